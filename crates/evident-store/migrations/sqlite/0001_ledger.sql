-- The event ledger and the projections that queries read. Times are Unix milliseconds (UTC).

CREATE TABLE orgs (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    visibility  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL DEFAULT 0,
    last_hash   TEXT NOT NULL
);

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    site_admin  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

-- A token is `evd_<id>_<secret>`; only SHA-256(secret) is kept.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_hash  BLOB NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL
);

CREATE TABLE memberships (
    org_id   INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role     TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;

-- Append-only, hash-chained per org.
CREATE TABLE events (
    org_id   INTEGER NOT NULL REFERENCES orgs(id),
    seq      INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    at       INTEGER NOT NULL,
    payload  TEXT NOT NULL,
    hash     TEXT NOT NULL,
    PRIMARY KEY (org_id, seq)
) WITHOUT ROWID;

CREATE TABLE pipelines (
    id               INTEGER PRIMARY KEY,
    org_id           INTEGER NOT NULL REFERENCES orgs(id),
    name             TEXT NOT NULL,
    description      TEXT NOT NULL,
    visibility       TEXT NOT NULL,
    template         TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    next_deployment  INTEGER NOT NULL DEFAULT 1,
    next_approval    INTEGER NOT NULL DEFAULT 1,
    UNIQUE (org_id, name)
);

CREATE TABLE artifacts (
    id           INTEGER PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES orgs(id),
    pipeline_id  INTEGER NOT NULL REFERENCES pipelines(id),
    fingerprint  TEXT NOT NULL,
    name         TEXT NOT NULL,
    git_commit   TEXT,
    commit_url   TEXT,
    build_url    TEXT,
    created_at   INTEGER NOT NULL,
    UNIQUE (pipeline_id, fingerprint)
);
CREATE INDEX artifacts_by_fingerprint ON artifacts (org_id, fingerprint);
CREATE INDEX artifacts_by_commit ON artifacts (org_id, git_commit);

CREATE TABLE evidence (
    id           INTEGER PRIMARY KEY,
    artifact_id  INTEGER NOT NULL REFERENCES artifacts(id),
    name         TEXT NOT NULL,
    compliant    INTEGER NOT NULL,
    url          TEXT,
    description  TEXT,
    user_data    TEXT,
    reported_at  INTEGER NOT NULL
);
CREATE INDEX evidence_by_artifact ON evidence (artifact_id);

CREATE TABLE approvals (
    id             INTEGER PRIMARY KEY,
    artifact_id    INTEGER NOT NULL REFERENCES artifacts(id),
    number         INTEGER NOT NULL,
    approved       INTEGER NOT NULL,
    environment    TEXT,
    reviewer       TEXT,
    description    TEXT,
    oldest_commit  TEXT,
    newest_commit  TEXT,
    reported_at    INTEGER NOT NULL
);
CREATE INDEX approvals_by_artifact ON approvals (artifact_id);

CREATE TABLE deployments (
    id           INTEGER PRIMARY KEY,
    artifact_id  INTEGER NOT NULL REFERENCES artifacts(id),
    number       INTEGER NOT NULL,
    environment  TEXT NOT NULL,
    description  TEXT,
    user_data    TEXT,
    reported_at  INTEGER NOT NULL
);
CREATE INDEX deployments_by_artifact ON deployments (artifact_id);

CREATE TABLE environments (
    id                INTEGER PRIMARY KEY,
    org_id            INTEGER NOT NULL REFERENCES orgs(id),
    name              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    description       TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    last_reported_at  INTEGER,
    last_changed_at   INTEGER,
    latest_snapshot   INTEGER NOT NULL DEFAULT 0,
    -- Digest of what defines the latest snapshot; an equal report is only a heartbeat.
    state_hash        TEXT NOT NULL DEFAULT '',
    UNIQUE (org_id, name)
);

CREATE TABLE snapshots (
    env_id      INTEGER NOT NULL REFERENCES environments(id),
    number      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (env_id, number)
) WITHOUT ROWID;
CREATE INDEX snapshots_by_time ON snapshots (env_id, created_at);

-- One row per continuous period an artifact ran with the same names and replica count.
-- to_snapshot is the first snapshot it is no longer part of; open runs hold 9223372036854775807.
CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    env_id         INTEGER NOT NULL REFERENCES environments(id),
    fingerprint    TEXT NOT NULL,
    names          TEXT NOT NULL,
    replicas       INTEGER NOT NULL,
    running_since  INTEGER NOT NULL,
    from_snapshot  INTEGER NOT NULL,
    to_snapshot    INTEGER NOT NULL
);
CREATE INDEX runs_by_start ON runs (env_id, from_snapshot);
CREATE INDEX runs_by_end ON runs (env_id, to_snapshot);
CREATE INDEX runs_by_fingerprint ON runs (fingerprint);

-- Every KEYFRAME_EVERY-th snapshot lists the runs in force, so reading any snapshot only
-- scans the runs that started since the keyframe before it.
CREATE TABLE keyframes (
    env_id   INTEGER NOT NULL REFERENCES environments(id),
    number   INTEGER NOT NULL,
    run_ids  TEXT NOT NULL,
    PRIMARY KEY (env_id, number)
) WITHOUT ROWID;
