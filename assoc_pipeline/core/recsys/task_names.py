"""The evaluation tasks' names, in a module light enough for `recommend`'s fast path (no pandas).

A champion serves the tasks it won (``SERVED_TASKS``); cold start is scored but never served apart
from completion.
"""

NEXT_BASKET, COMPLETION, COLD_START = "next_basket", "completion", "cold_start"
SERVED_TASKS = (NEXT_BASKET, COMPLETION)
