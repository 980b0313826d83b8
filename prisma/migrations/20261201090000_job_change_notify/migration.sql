-- Each API process caches job reads in memory, while workers (other processes) change jobs all the time.
-- Every committed change of a job's row or of one of its result artifacts is announced on the channel
-- maskforge_job_changes with the job id, so every API process drops its copy (src/db/job-change-listener.ts).
-- NOTIFY is sent at commit and de-duplicated within a transaction: a status change that also writes events
-- and artifacts costs one notification. Inserts of jobs need none: a job nobody read is not cached.

CREATE FUNCTION "maskforge_job_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('maskforge_job_changes', OLD."id"::text);
  ELSE
    PERFORM pg_notify('maskforge_job_changes', NEW."id"::text);
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER "Job_changed" AFTER UPDATE OR DELETE ON "Job"
  FOR EACH ROW EXECUTE FUNCTION "maskforge_job_changed"();

-- A job's results are its artifacts other than snapshots. The worker registers them in the transaction that
-- marks the job succeeded, but removeJobArtifacts (failure, cancel, a lost finishing race) deletes rows
-- without touching the job, so artifacts announce their job themselves.
CREATE FUNCTION "maskforge_artifact_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    IF OLD."jobId" IS NOT NULL AND OLD."kind" <> 'snapshot' THEN
      PERFORM pg_notify('maskforge_job_changes', OLD."jobId"::text);
    END IF;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    IF NEW."jobId" IS NOT NULL AND NEW."kind" <> 'snapshot' THEN
      PERFORM pg_notify('maskforge_job_changes', NEW."jobId"::text);
    END IF;
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER "Artifact_changed" AFTER INSERT OR UPDATE OR DELETE ON "Artifact"
  FOR EACH ROW EXECUTE FUNCTION "maskforge_artifact_changed"();

-- TRUNCATE fires no row triggers: '*' tells the listeners to drop every cached job.
CREATE FUNCTION "maskforge_jobs_truncated"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('maskforge_job_changes', '*');
  RETURN NULL;
END;
$$;

CREATE TRIGGER "Job_truncated" AFTER TRUNCATE ON "Job"
  FOR EACH STATEMENT EXECUTE FUNCTION "maskforge_jobs_truncated"();
CREATE TRIGGER "Artifact_truncated" AFTER TRUNCATE ON "Artifact"
  FOR EACH STATEMENT EXECUTE FUNCTION "maskforge_jobs_truncated"();
