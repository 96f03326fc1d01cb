-- Searching commits by sha goes through each of the org's repositories and the primary key
-- (repo_id, sha); a second index on sha only doubled the cost of indexing a repository.
DROP INDEX repo_commits_by_sha;
