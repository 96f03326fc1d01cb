-- Tracked git repositories and their commit index.

CREATE TABLE repos (
    id               INTEGER PRIMARY KEY,
    org_id           INTEGER NOT NULL REFERENCES orgs(id),
    name             TEXT NOT NULL,
    url              TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    last_refresh_at  INTEGER,
    -- 1 when the last refresh succeeded, 0 when it failed (the index then still holds the
    -- previous state), NULL before the first one.
    last_refresh_ok  INTEGER,
    last_error       TEXT,
    -- Bumped by every refresh that changed the index, so caches know when to reload.
    generation       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (org_id, name)
);

-- Every commit ever indexed. Commits that no branch or tag reaches any more (force-push,
-- deleted branch) stay with reachable = 0, so artifacts built from them keep their history.
CREATE TABLE repo_commits (
    repo_id           INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    sha               TEXT NOT NULL,
    parents           TEXT NOT NULL,
    author_name       TEXT NOT NULL,
    author_email      TEXT NOT NULL,
    author_time       INTEGER NOT NULL,
    author_offset     INTEGER NOT NULL,
    committer_name    TEXT NOT NULL,
    committer_email   TEXT NOT NULL,
    committer_time    INTEGER NOT NULL,
    committer_offset  INTEGER NOT NULL,
    message           TEXT NOT NULL,
    reachable         INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (repo_id, sha)
) WITHOUT ROWID;
CREATE INDEX repo_commits_by_sha ON repo_commits (sha);

CREATE TABLE repo_refs (
    repo_id  INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    sha      TEXT NOT NULL,
    PRIMARY KEY (repo_id, name)
) WITHOUT ROWID;
