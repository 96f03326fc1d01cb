//! One entry point for "the commits of this repository": the GitHub API first when it can
//! answer, a local mirror otherwise.

use std::path::PathBuf;

use crate::command::GitOptions;
use crate::commit::Commit;
use crate::error::GitError;
use crate::github::{ForgeError, GithubApi};
use crate::listing::LogQuery;
use crate::mirror::Mirror;
use crate::policy::CheckedUrl;

/// Where a listing came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The GitHub REST API.
    GithubApi,
    /// A git mirror.
    Git,
}

/// Commits and how they were obtained.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The commits, newest first.
    pub commits: Vec<Commit>,
    /// The source that answered.
    pub via: Via,
    /// Why the API was not used, when it was tried and failed.
    pub fallback: Option<ForgeError>,
}

/// Lists commits from the GitHub API when configured and applicable, else from a mirror
/// under `mirrors_root` (cloned on first use, fetched on later ones).
#[derive(Debug, Clone)]
pub struct CommitSource {
    /// Directory holding the mirrors.
    pub mirrors_root: PathBuf,
    /// Limits for git.
    pub git: GitOptions,
    /// The GitHub API client; `None` means always use git.
    pub github: Option<GithubApi>,
}

impl CommitSource {
    /// List `url`'s commits; github.com URLs try the API first.
    pub async fn list(&self, url: &CheckedUrl, query: &LogQuery) -> Result<Listing, GitError> {
        let repo = url.github_repo();
        let repo = repo.as_ref().map(|(o, r)| (o.as_str(), r.as_str()));
        self.list_via(url, repo, query).await
    }

    /// List `url`'s commits, asking the GitHub API about `github_repo` (owner, name) first:
    /// for GitHub Enterprise hosts, or a mirror URL of a GitHub repository.
    pub async fn list_via(
        &self,
        url: &CheckedUrl,
        github_repo: Option<(&str, &str)>,
        query: &LogQuery,
    ) -> Result<Listing, GitError> {
        let mut fallback = None;
        if let (Some(api), Some((owner, name))) = (&self.github, github_repo) {
            match api.list_commits(owner, name, query).await {
                Ok(commits) => {
                    return Ok(Listing {
                        commits,
                        via: Via::GithubApi,
                        fallback: None,
                    })
                }
                Err(e) => {
                    tracing::info!(repo = %url, error = %e, "GitHub API unavailable, using git");
                    fallback = Some(e);
                }
            }
        }
        let mirror = Mirror::open_or_clone(&self.mirrors_root, url, &self.git).await?;
        if !mirror.was_cloned() {
            mirror.fetch().await?;
        }
        Ok(Listing {
            commits: mirror.list_commits(query).await?,
            via: Via::Git,
            fallback,
        })
    }
}
