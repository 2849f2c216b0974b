"""Keeping the pipeline alive: schedules, the inbox sensor and declarative automation.

* ``daily_refresh`` (daily, 03:00) re-ingests the current month and refreshes baskets and rules;
* ``weekly_retrain`` (Sundays, 04:00) retrains every model from scratch, fine-tunes the champion
  on the same baskets (warm start), and re-runs evaluation (both compared) and promotion;
* ``inbox_sensor`` lands new event files dropped in the inbox and asks for one run per month
  they cover (ingest + baskets + rules in that run);
* mining assets carry ``AutomationCondition.eager()``: when baskets change for any reason (a
  backfill in the UI, a re-run), itemsets and rules follow without a hand-written job list.

Schedules and the sensor start STOPPED: switch them on in the UI (Automation tab) or with
``dagster schedule start`` / ``dagster sensor start``; `make ui` runs the daemon that runs them.
"""

import dagster as dg

from assoc_pipeline.core.recsys.model_types import MODEL_TYPES
from assoc_pipeline.orchestration.partitions import monthly_partitions
from assoc_pipeline.resources.inbox import InboxResource

INGEST_KEYS = ["raw_events", "clean_events"]
REFRESH_KEYS = [
    *INGEST_KEYS,
    "item_catalog",
    "baskets",
    "frequent_itemsets",
    "association_rules",
    "item_embeddings",  # cached by description: only new products are embedded
    "category_rules",
    "ab_report",  # the purchases that follow the served experiment's exposures arrive here
]
RETRAIN_KEYS = [
    "split",
    "baseline_tuning",
    *(t.asset_name for t in MODEL_TYPES.values()),
    "hybrid_model",
    "finetuned_model",
    "gan_model",
    "synthetic_baskets",
    "evaluation_report",
    "champion",
    "recommendations",
]

daily_refresh_job = dg.define_asset_job(
    "daily_refresh",
    selection=dg.AssetSelection.assets(*REFRESH_KEYS),
    description="The current month's events, then baskets, itemsets and rules.",
)
weekly_retrain_job = dg.define_asset_job(
    "weekly_retrain",
    selection=dg.AssetSelection.assets(*RETRAIN_KEYS),
    description="Retrain every model on the latest baskets, evaluate, promote, serve.",
)


@dg.schedule(
    job=daily_refresh_job,
    cron_schedule="0 3 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily: re-ingest the open month (new events land there) and refresh the rules.",
)
def daily_refresh_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    month = monthly_partitions.get_partition_key_for_timestamp(context.scheduled_execution_time.timestamp())
    return dg.RunRequest(run_key=f"daily:{context.scheduled_execution_time:%Y-%m-%d}", partition_key=month)


weekly_retrain_schedule = dg.ScheduleDefinition(
    job=weekly_retrain_job,
    cron_schedule="0 4 * * 0",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Weekly: full retraining, evaluation and the promotion gate.",
)


@dg.sensor(
    job=daily_refresh_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Watches the inbox folder (ASSOC_INBOX): validates each new CSV/Parquet event file, "
    "registers it by content hash (never ingested twice), quarantines malformed ones with a reason, "
    "and requests a refresh run for every month the file covers.",
)
def inbox_sensor(context: dg.SensorEvaluationContext, inbox: InboxResource) -> dg.SensorResult:
    outcome = inbox.process()
    requests = [
        dg.RunRequest(
            run_key=f"inbox:{f['digest'][:16]}:{month}",
            partition_key=month,
            tags={"assoc/inbox_file": f["file"], "assoc/content_sha256": f["digest"]},
        )
        for f in outcome.landed
        for month in f["months"]
    ]
    for q in outcome.quarantined:
        context.log.warning(f"quarantined {q['file']}: {q['reason']}")
    for d in outcome.duplicates:
        context.log.info(f"skipped {d['file']}: same content as {d['first_seen_as']}")
    if requests or outcome.quarantined:
        return dg.SensorResult(run_requests=requests)
    return dg.SensorResult(skip_reason=f"no new files in {inbox.inbox_dir}")


schedules = [daily_refresh_schedule, weekly_retrain_schedule]
sensors = [inbox_sensor]
jobs = [daily_refresh_job, weekly_retrain_job]
