-- The commit index as a rowid table with a separate unique key. With whole commit messages
-- inside the clustered primary key (WITHOUT ROWID), every insert moved large rows around
-- the B-tree; appending to a rowid table and indexing only (repo_id, sha) stores a large
-- history three to four times faster (BENCHMARKS.md, "first full index").
CREATE TABLE repo_commits_new (
    id                INTEGER PRIMARY KEY,
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
    reachable         INTEGER NOT NULL DEFAULT 1
);
INSERT INTO repo_commits_new (repo_id, sha, parents, author_name, author_email, author_time,
    author_offset, committer_name, committer_email, committer_time, committer_offset, message,
    reachable)
SELECT repo_id, sha, parents, author_name, author_email, author_time, author_offset,
    committer_name, committer_email, committer_time, committer_offset, message, reachable
FROM repo_commits ORDER BY repo_id, committer_time DESC;
DROP TABLE repo_commits;
ALTER TABLE repo_commits_new RENAME TO repo_commits;
CREATE UNIQUE INDEX repo_commits_key ON repo_commits (repo_id, sha);
-- Commits no ref reaches any more are few; this lets the reachable count be
-- (all rows of the repository) - (unreachable ones) without reading the rows.
CREATE INDEX repo_commits_unreachable ON repo_commits (repo_id) WHERE reachable = 0;
