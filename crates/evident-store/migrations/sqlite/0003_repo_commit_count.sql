-- Counting a large repository's commits on every request is too slow; keep the count.
ALTER TABLE repos ADD COLUMN commit_count INTEGER NOT NULL DEFAULT 0;
UPDATE repos SET commit_count =
    (SELECT COUNT(*) FROM repo_commits c WHERE c.repo_id = repos.id AND c.reachable = 1);
