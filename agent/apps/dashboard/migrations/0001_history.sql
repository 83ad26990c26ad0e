-- The dashboard's history on PostgreSQL. Trend points, by far the most rows (one a second
-- per device), live in one partition per UTC day, dropped whole when past the retention.
CREATE TABLE scores (
    site text NOT NULL,
    device text NOT NULL,
    at double precision NOT NULL,
    score double precision,
    modalities text NOT NULL,
    readings text NOT NULL,
    PRIMARY KEY (site, device, at)
) PARTITION BY RANGE (at);

CREATE TABLE alarms (
    id text PRIMARY KEY,
    site text NOT NULL,
    device text NOT NULL,
    type text,
    severity text,
    score double precision,
    event text NOT NULL,
    seq bigint NOT NULL,
    first_at double precision NOT NULL,
    last_at double precision NOT NULL,
    payload text NOT NULL
);
CREATE INDEX alarms_by_time ON alarms (first_at);
CREATE INDEX alarms_by_last ON alarms (last_at);

-- one row per acknowledgement, however many dashboards saw it
CREATE TABLE acks (
    alarm_id text NOT NULL,
    by text NOT NULL DEFAULT '',
    at text NOT NULL DEFAULT '',
    note text,
    received_at double precision NOT NULL,
    PRIMARY KEY (alarm_id, by, at)
);
CREATE INDEX acks_by_time ON acks (received_at);

CREATE TABLE evidence (
    alarm_id text NOT NULL,
    kind text NOT NULL,
    media_type text NOT NULL,
    size integer NOT NULL,
    data bytea NOT NULL,
    received_at double precision NOT NULL,
    PRIMARY KEY (alarm_id, kind)
);
CREATE INDEX evidence_by_time ON evidence (received_at);
