//! Tracked repositories: mirroring, incremental indexing, and serving commit pages fast.
//!
//! The index lives in the store (so every replica sees it); each server keeps an in-memory
//! copy per repository with every commit's JSON pre-rendered, so a page is a slice of ready
//! bytes rather than a query and a serialisation. The copy is reloaded when the repository's
//! generation (bumped by every refresh that changed something) moves.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evident_core::api::{Commit, CommitChange, Repo, Signature, SnapshotDiff};
use evident_git::{GitOptions, LogQuery, Mirror, UrlPolicy};
use evident_store::{OrgRecord, RepoRecord, Store};
use jiff::Timestamp;

use crate::error::{ApiError, ApiResult};

/// Git settings of the server.
#[derive(Debug, Clone)]
pub struct GitConfig {
    /// Where bare mirrors live (a cache: deleting it only costs a re-clone).
    pub mirrors_dir: PathBuf,
    pub policy: UrlPolicy,
    pub options: GitOptions,
    /// How often every tracked repository is refreshed; `None` turns the refresher off.
    pub refresh_interval: Option<Duration>,
    /// Refreshes that may run at once.
    pub concurrency: usize,
    /// Ad-hoc listings of github.com repositories ask this API first (git when it fails,
    /// times out, is rate-limited or the history is too long for it); `None`: git only.
    pub github: Option<evident_git::GithubApi>,
}

impl Default for GitConfig {
    fn default() -> Self {
        Self {
            mirrors_dir: std::env::temp_dir().join("evident-mirrors"),
            policy: UrlPolicy::default(),
            options: GitOptions::default(),
            refresh_interval: Some(Duration::from_secs(300)),
            concurrency: 2,
            github: None,
        }
    }
}

/// A repository's commits, newest first, ready to serve. The graph is kept as compact index
/// arrays; the JSON of the newest [`HOT_COMMITS`] commits (at most [`HOT_BYTES`]) is rendered once and kept, so the
/// pages people read are copies of ready bytes, while older pages are read from the store.
pub struct RepoIndex {
    generation: i64,
    /// Position → sha, newest first.
    shas: Vec<Box<str>>,
    /// Position → positions of its parents (those in the index).
    parents: Vec<Vec<u32>>,
    /// The JSON (refs included) of positions `0..hot.len()`.
    hot: Vec<Box<str>>,
    /// Positions sorted by sha, for exact and prefix lookups by binary search.
    by_sha: Vec<u32>,
    refs: Vec<(String, String)>,
    /// sha → names of the refs pointing at it.
    ref_names: HashMap<String, Vec<String>>,
    /// The newest committer time in the index (Unix seconds).
    newest: i64,
}

/// Commits whose JSON a tracked repository's index keeps in memory (≈ 100 pages of 100)...
pub const HOT_COMMITS: usize = 10_000;
/// ...unless their JSON passes this size first (long messages), to keep memory bounded.
pub const HOT_BYTES: usize = 8 << 20;

/// sha → names of the refs pointing at it.
fn names_by_sha(refs: &[(String, String)]) -> HashMap<String, Vec<String>> {
    let mut names: HashMap<String, Vec<String>> = HashMap::new();
    for (name, sha) in refs {
        names.entry(sha.clone()).or_default().push(name.clone());
    }
    names
}

/// One commit of the graph: sha, parents, committer time.
type Node = (String, Vec<String>, i64);

impl RepoIndex {
    /// Orders the graph newest first (as `git log --date-order`) and builds the lookups.
    fn from_graph(generation: i64, nodes: Vec<Node>, refs: Vec<(String, String)>) -> Self {
        let n = nodes.len();
        let newest = nodes.iter().map(|(_, _, t)| *t).max().unwrap_or(i64::MIN);
        let mut shas = Vec::with_capacity(n);
        let mut times = Vec::with_capacity(n);
        let mut parent_shas = Vec::with_capacity(n);
        for (sha, parents, time) in nodes {
            shas.push(sha.into_boxed_str());
            times.push(Timestamp::from_second(time).unwrap_or(Timestamp::UNIX_EPOCH));
            parent_shas.push(parents);
        }
        let position: HashMap<&str, usize> =
            shas.iter().enumerate().map(|(i, s)| (&**s, i)).collect();
        let parents_in: Vec<Vec<usize>> = parent_shas
            .iter()
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| position.get(p.as_str()).copied())
                    .collect()
            })
            .collect();
        drop(position);
        drop(parent_shas);
        let order = date_order(&shas, &times, &parents_in);
        let mut new_pos = vec![0u32; n];
        for (pos, &i) in order.iter().enumerate() {
            new_pos[i] = pos as u32;
        }
        let mut slots: Vec<Option<Box<str>>> = shas.into_iter().map(Some).collect();
        let mut out_shas = Vec::with_capacity(n);
        let mut out_parents = Vec::with_capacity(n);
        for &i in &order {
            out_shas.push(slots[i].take().expect("each once"));
            out_parents.push(parents_in[i].iter().map(|&p| new_pos[p]).collect());
        }
        let mut by_sha: Vec<u32> = (0..n as u32).collect();
        by_sha.sort_by(|&a, &b| out_shas[a as usize].cmp(&out_shas[b as usize]));
        Self {
            generation,
            ref_names: names_by_sha(&refs),
            shas: out_shas,
            parents: out_parents,
            hot: Vec::new(),
            by_sha,
            refs,
            newest,
        }
    }

    /// This index with `new` commits added and the refs now `refs`, without reading the store
    /// or ordering the whole graph again. Only for the common case of a push: every new commit
    /// is newer than everything indexed, so they all come first, in their own date order,
    /// followed by the old order unchanged (see [`date_order`]). `None` otherwise; the caller
    /// then reloads.
    fn with_new_commits(
        &self,
        generation: i64,
        new: Vec<Commit>,
        refs: Vec<(String, String)>,
    ) -> Option<Self> {
        let k = new.len();
        if new.iter().any(|c| {
            c.committer.time.as_second() <= self.newest || self.resolve_exact(&c.sha).is_some()
        }) {
            return None;
        }
        let new_shas: Vec<Box<str>> = new.iter().map(|c| c.sha.clone().into_boxed_str()).collect();
        let local: HashMap<&str, usize> = new_shas
            .iter()
            .enumerate()
            .map(|(i, s)| (&**s, i))
            .collect();
        let local_parents: Vec<Vec<usize>> = new
            .iter()
            .map(|c| {
                c.parents
                    .iter()
                    .filter_map(|p| local.get(p.as_str()).copied())
                    .collect()
            })
            .collect();
        let times: Vec<Timestamp> = new.iter().map(|c| c.committer.time).collect();
        let order = date_order(&new_shas, &times, &local_parents);
        let mut new_pos = vec![0u32; k];
        for (pos, &i) in order.iter().enumerate() {
            new_pos[i] = pos as u32;
        }
        let shift = |p: u32| p + k as u32;
        let mut shas = Vec::with_capacity(k + self.len());
        let mut parents = Vec::with_capacity(k + self.len());
        for &i in &order {
            shas.push(new_shas[i].clone());
            parents.push(
                new[i]
                    .parents
                    .iter()
                    .filter_map(|p| match local.get(p.as_str()) {
                        Some(&j) => Some(new_pos[j]),
                        None => self.resolve_exact(p).map(|old| shift(old as u32)),
                    })
                    .collect(),
            );
        }
        shas.extend(self.shas.iter().cloned());
        parents.extend(
            self.parents
                .iter()
                .map(|ps| ps.iter().map(|&p| shift(p)).collect()),
        );
        // Both lists sorted by sha, merged in one pass.
        let mut added: Vec<u32> = (0..k as u32).collect();
        added.sort_by(|&a, &b| shas[a as usize].cmp(&shas[b as usize]));
        let mut added = added.into_iter().peekable();
        let mut by_sha = Vec::with_capacity(shas.len());
        for old in self.by_sha.iter().map(|&p| shift(p)) {
            while let Some(new) = added.next_if(|&n| shas[n as usize] < shas[old as usize]) {
                by_sha.push(new);
            }
            by_sha.push(old);
        }
        by_sha.extend(added);
        let mut ix = Self {
            generation,
            shas,
            parents,
            hot: Vec::new(),
            by_sha,
            ref_names: names_by_sha(&refs),
            refs,
            newest: new
                .iter()
                .map(|c| c.committer.time.as_second())
                .max()
                .unwrap_or(self.newest),
        };
        let mut by_sha_new: HashMap<String, Commit> =
            new.into_iter().map(|c| (c.sha.clone(), c)).collect();
        let mut hot: Vec<Box<str>> = ix.shas[..k]
            .iter()
            .map(|sha| ix.render(by_sha_new.remove(&**sha).expect("every new commit")))
            .collect();
        let mut bytes: usize = hot.iter().map(|j| j.len()).sum();
        for (old_pos, json) in self.hot.iter().enumerate() {
            if hot.len() >= HOT_COMMITS || bytes >= HOT_BYTES {
                break;
            }
            let sha = &*self.shas[old_pos];
            // A ref moved onto or off this commit: its JSON lists refs, so render it again.
            let json = if self.ref_names.get(sha) == ix.ref_names.get(sha) {
                json.clone()
            } else {
                ix.render(serde_json::from_str(json).expect("index JSON is ours"))
            };
            bytes += json.len();
            hot.push(json);
        }
        ix.hot = hot;
        Some(ix)
    }

    /// The position of the commit with exactly this full sha.
    fn resolve_exact(&self, sha: &str) -> Option<usize> {
        let at = self.first_sha_at_or_after(sha);
        self.by_sha
            .get(at)
            .map(|&i| i as usize)
            .filter(|&i| *self.shas[i] == *sha)
    }

    /// Where `sha` (or a prefix) is or would be in [`RepoIndex::by_sha`].
    fn first_sha_at_or_after(&self, sha: &str) -> usize {
        self.by_sha
            .partition_point(|&i| *self.shas[i as usize] < *sha)
    }

    /// Sets a commit's refs and renders it.
    fn render(&self, mut c: Commit) -> Box<str> {
        c.refs = self.ref_names.get(&c.sha).cloned().unwrap_or_default();
        serde_json::to_string(&c)
            .expect("commits serialise")
            .into_boxed_str()
    }

    /// An index with every commit's JSON in memory (for ad-hoc listings, which have no store).
    async fn all_hot(commits: Vec<Commit>, refs: Vec<(String, String)>) -> ApiResult<Arc<Self>> {
        tokio::task::spawn_blocking(move || {
            let nodes = commits
                .iter()
                .map(|c| {
                    (
                        c.sha.clone(),
                        c.parents.clone(),
                        c.committer.time.as_second(),
                    )
                })
                .collect();
            let mut ix = Self::from_graph(0, nodes, refs);
            let mut by_sha: HashMap<String, Commit> =
                commits.into_iter().map(|c| (c.sha.clone(), c)).collect();
            ix.hot = ix
                .shas
                .iter()
                .map(|sha| ix.render(by_sha.remove(&**sha).expect("every listed commit")))
                .collect();
            Arc::new(ix)
        })
        .await
        .map_err(ApiError::internal)
    }

    /// A tracked repository's index: the graph from the store, then the JSON of the newest
    /// commits.
    async fn load(store: &dyn Store, repo: &RepoRecord) -> ApiResult<Arc<Self>> {
        let started = Instant::now();
        let nodes = store.repo_graph(repo.id).await?;
        let refs = store.repo_refs(repo.id).await?;
        let read = started.elapsed();
        let generation = repo.generation;
        let mut ix = tokio::task::spawn_blocking(move || Self::from_graph(generation, nodes, refs))
            .await
            .map_err(ApiError::internal)?;
        let ordered = started.elapsed();
        let newest = ix.len().min(HOT_COMMITS);
        let mut bytes = 0;
        'render: for start in (0..newest).step_by(1_000) {
            let positions: Vec<usize> = (start..(start + 1_000).min(newest)).collect();
            for c in ix.fetch(store, repo.id, &positions).await? {
                let json = ix.render(c);
                bytes += json.len();
                ix.hot.push(json);
                if bytes >= HOT_BYTES {
                    break 'render;
                }
            }
        }
        tracing::info!(
            repo = %repo.name,
            commits = ix.len(),
            graph_read_ms = read.as_millis() as u64,
            ordered_ms = ordered.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "index loaded"
        );
        Ok(Arc::new(ix))
    }

    /// Commits at these positions, from the store, in the order given.
    async fn fetch(
        &self,
        store: &dyn Store,
        repo_id: i64,
        positions: &[usize],
    ) -> ApiResult<Vec<Commit>> {
        let mut found: HashMap<String, Commit> = HashMap::new();
        for chunk in positions.chunks(5_000) {
            let shas: Vec<&str> = chunk.iter().map(|&i| &*self.shas[i]).collect();
            for c in store.commits_by_shas(repo_id, &shas).await? {
                found.insert(c.sha.clone(), c);
            }
        }
        positions
            .iter()
            .map(|&i| {
                found.remove(&*self.shas[i]).ok_or_else(|| {
                    ApiError::internal(format!("commit {} missing from the store", self.shas[i]))
                })
            })
            .collect()
    }

    /// The JSON of the commits at `positions`, from memory or (for old pages) the store.
    pub async fn json_of(
        &self,
        store: &dyn Store,
        repo_id: Option<i64>,
        positions: &[usize],
    ) -> ApiResult<Vec<Box<str>>> {
        if positions.iter().all(|&i| i < self.hot.len()) {
            return Ok(positions.iter().map(|&i| self.hot[i].clone()).collect());
        }
        let repo_id =
            repo_id.ok_or_else(|| ApiError::internal("cold page of an ad-hoc listing"))?;
        Ok(self
            .fetch(store, repo_id, positions)
            .await?
            .into_iter()
            .map(|c| self.render(c))
            .collect())
    }

    /// The commits at `positions`, refs included.
    pub async fn commits_at(
        &self,
        store: &dyn Store,
        repo_id: Option<i64>,
        positions: &[usize],
    ) -> ApiResult<Vec<Commit>> {
        Ok(self
            .json_of(store, repo_id, positions)
            .await?
            .iter()
            .map(|j| serde_json::from_str(j).expect("index JSON is ours"))
            .collect())
    }

    pub fn len(&self) -> usize {
        self.shas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shas.is_empty()
    }

    /// Positions of commits reachable from the positions in `tips`, newest first.
    fn reachable(&self, tips: &[usize]) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack = tips.to_vec();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            stack.extend(self.parents[i].iter().map(|&p| p as usize));
        }
        (0..seen.len()).filter(|i| seen[*i]).collect()
    }

    /// The commits a ref selects: all (`None`), or those reachable from a branch, tag or sha.
    pub fn select(&self, reference: Option<&str>) -> ApiResult<Option<Vec<usize>>> {
        let Some(r) = reference else {
            return Ok(None);
        };
        let by_ref = self.refs.iter().find(|(name, _)| {
            name == r
                || name.strip_prefix("refs/heads/") == Some(r)
                || name.strip_prefix("refs/tags/") == Some(r)
        });
        let tip = match by_ref {
            Some((_, sha)) => self.resolve_sha(sha),
            None => self.resolve_sha(r),
        }
        .map_err(|_| ApiError::not_found(format!("no branch, tag or commit named {r:?}")))?;
        Ok(Some(self.reachable(&[tip])))
    }

    /// A commit by full sha or unique prefix (4+ hex characters).
    pub fn resolve_sha(&self, prefix: &str) -> ApiResult<usize> {
        if prefix.len() < 4 || prefix.len() > 64 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ApiError::bad_request(format!(
                "{prefix:?} is not a commit sha"
            )));
        }
        let prefix = prefix.to_ascii_lowercase();
        let start = self.first_sha_at_or_after(&prefix);
        let matching: Vec<usize> = self.by_sha[start..]
            .iter()
            .take(2)
            .map(|&i| i as usize)
            .filter(|&i| self.shas[i].starts_with(&prefix))
            .collect();
        match matching[..] {
            [i] => Ok(i),
            [i, _] if *self.shas[i] == *prefix => Ok(i),
            [] => Err(ApiError::not_found(format!(
                "no commit {prefix} in this repository"
            ))),
            _ => Err(ApiError::conflict(format!(
                "commit prefix {prefix} is ambiguous"
            ))),
        }
    }

    pub fn sha(&self, i: usize) -> &str {
        &self.shas[i]
    }

    /// Commits reachable from `new` but not from `old`, newest first: what `new` brings.
    pub fn between(&self, old: &str, new: &str) -> ApiResult<Vec<usize>> {
        let (o, n) = (self.resolve_sha(old)?, self.resolve_sha(new)?);
        let old_set: HashSet<usize> = self.reachable(&[o]).into_iter().collect();
        Ok(self
            .reachable(&[n])
            .into_iter()
            .filter(|i| !old_set.contains(i))
            .collect())
    }

    /// Commits that have `i` as an ancestor, `i` included.
    pub fn descendants(&self, i: usize) -> HashSet<usize> {
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); self.len()];
        for (c, ps) in self.parents.iter().enumerate() {
            for &p in ps {
                children[p as usize].push(c);
            }
        }
        let mut seen = HashSet::new();
        let mut stack = vec![i];
        while let Some(k) = stack.pop() {
            if seen.insert(k) {
                stack.extend(&children[k]);
            }
        }
        seen
    }
}

/// Newest first as `git log --date-order` shows them: by committer time, but never a parent
/// before its child, so commits made in the same second still come out in history order.
/// Returns input positions in that order.
fn date_order(shas: &[Box<str>], times: &[Timestamp], parents: &[Vec<usize>]) -> Vec<usize> {
    use std::collections::BinaryHeap;
    let mut children = vec![0usize; shas.len()];
    for ps in parents {
        for &p in ps {
            children[p] += 1;
        }
    }
    let key = |i: usize| (times[i], std::cmp::Reverse(&shas[i]), i);
    let mut ready: BinaryHeap<_> = (0..shas.len())
        .filter(|i| children[*i] == 0)
        .map(key)
        .collect();
    let mut order = Vec::with_capacity(shas.len());
    while let Some((_, _, i)) = ready.pop() {
        order.push(i);
        for &p in &parents[i] {
            children[p] -= 1;
            if children[p] == 0 {
                ready.push(key(p));
            }
        }
    }
    order
}

/// The repository side of the server.
pub struct Repos {
    store: Arc<dyn Store>,
    pub config: GitConfig,
    indexes: Mutex<HashMap<i64, Arc<RepoIndex>>>,
    /// One refresh per repository at a time; concurrent callers wait for it (single flight).
    refreshing: Flights<i64>,
    /// One load of a repository's index at a time.
    loading: Flights<i64>,
    adhoc: Mutex<HashMap<String, AdHocEntry>>,
    adhoc_flights: Flights<String>,
}

/// Per-key locks that make concurrent callers wait for one piece of work (single flight).
type Flights<K> = Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>;

/// The lock of `key` in `flights`. Locks nobody holds or awaits are dropped on the way, so
/// the map stays as small as the work in progress (ad-hoc URLs are unbounded).
fn flight_lock<K: Eq + std::hash::Hash + Clone>(
    flights: &Flights<K>,
    key: &K,
) -> Arc<tokio::sync::Mutex<()>> {
    let mut map = flights.lock().unwrap_or_else(|e| e.into_inner());
    map.retain(|k, lock| k == key || Arc::strong_count(lock) > 1);
    map.entry(key.clone()).or_default().clone()
}

/// Commits per store write while a first listing streams in.
const STORE_BATCH: usize = 2_000;

/// Hands a batch to the store writer from inside a listing's (synchronous) visitor: waits,
/// telling the runtime this worker blocks, while the writer is busy; stops the listing if
/// the writer has gone (it failed, and reports why).
fn hand_over(
    tx: &tokio::sync::mpsc::Sender<Vec<Commit>>,
    batch: Vec<Commit>,
) -> std::ops::ControlFlow<()> {
    use tokio::sync::mpsc::error::TrySendError;
    let sent = match tx.try_send(batch) {
        Ok(()) => true,
        Err(TrySendError::Full(batch)) => {
            let handle = tokio::runtime::Handle::current();
            tokio::task::block_in_place(|| handle.block_on(tx.send(batch)).is_ok())
        }
        Err(TrySendError::Closed(_)) => false,
    };
    if sent {
        std::ops::ControlFlow::Continue(())
    } else {
        std::ops::ControlFlow::Break(())
    }
}

/// Ad-hoc listings kept at most this many (mirrors on disk, indexes in memory).
const ADHOC_CAPACITY: usize = 16;
/// An ad-hoc listing younger than this is served without fetching.
const ADHOC_FRESH: Duration = Duration::from_secs(60);

struct AdHocEntry {
    index: Arc<RepoIndex>,
    fetched: Instant,
    used: Instant,
    url: evident_git::CheckedUrl,
}

pub fn to_api(r: &RepoRecord) -> Repo {
    Repo {
        name: r.name.clone(),
        url: r.url.clone(),
        created_at: r.created_at,
        commits: r.commits,
        last_refresh_at: r.last_refresh_at,
        last_refresh: match r.last_refresh_ok {
            None => "never",
            Some(true) => "ok",
            Some(false) => "failed",
        }
        .to_string(),
        last_error: r.last_error.clone(),
    }
}

fn convert(c: evident_git::Commit) -> Commit {
    let sig = |name, email, time: i64, offset| Signature {
        name,
        email,
        time: Timestamp::from_second(time).unwrap_or(Timestamp::UNIX_EPOCH),
        offset_minutes: offset,
    };
    Commit {
        author: sig(
            c.author_name,
            c.author_email,
            c.author_time,
            c.author_offset_minutes,
        ),
        committer: sig(
            c.committer_name,
            c.committer_email,
            c.committer_time,
            c.committer_offset_minutes,
        ),
        sha: c.sha,
        parents: c.parents,
        message: c.message,
        refs: c.refs,
    }
}

impl Repos {
    pub fn new(store: Arc<dyn Store>, config: GitConfig) -> Self {
        Self {
            store,
            config,
            indexes: Mutex::new(HashMap::new()),
            refreshing: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            adhoc: Mutex::new(HashMap::new()),
            adhoc_flights: Mutex::new(HashMap::new()),
        }
    }

    pub fn check_url(&self, url: &str) -> ApiResult<evident_git::CheckedUrl> {
        self.config
            .policy
            .check(url)
            .map_err(|e| ApiError::bad_request(format!("repository URL refused: {e}")))
    }

    /// [`Repos::check_url`], then the addresses the host name resolves to.
    async fn check_url_resolved(&self, url: &str) -> ApiResult<evident_git::CheckedUrl> {
        let checked = self.check_url(url)?;
        self.config
            .policy
            .check_resolved(&checked)
            .await
            .map_err(|e| ApiError::bad_request(format!("repository URL refused: {e}")))?;
        Ok(checked)
    }

    pub async fn add(self: &Arc<Self>, org: &OrgRecord, name: &str, url: &str) -> ApiResult<Repo> {
        evident_core::refs::check_name(name)?;
        self.check_url_resolved(url).await?;
        let repo = self
            .store
            .create_repo(org, name, url, Timestamp::now())
            .await?;
        self.refresh(&repo).await?;
        let record = self.record(org, name).await?;
        // Whoever added it is about to read it: build the in-memory index now, off the
        // request, so the first page (and later refreshes) find it ready.
        let (this, warm) = (self.clone(), record.clone());
        tokio::spawn(async move {
            if let Err(e) = this.index(&warm).await {
                tracing::warn!(repo = %warm.name, error = %e.message, "cannot build the index");
            }
        });
        Ok(to_api(&record))
    }

    pub async fn get(&self, org: &OrgRecord, name: &str) -> ApiResult<Repo> {
        Ok(to_api(&self.record(org, name).await?))
    }

    pub async fn record(&self, org: &OrgRecord, name: &str) -> ApiResult<RepoRecord> {
        self.store
            .repo(org.id, name)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("repository {name:?} not found")))
    }

    pub async fn remove(&self, org: &OrgRecord, name: &str) -> ApiResult<()> {
        let repo = self.record(org, name).await?;
        self.store.delete_repo(org, name, Timestamp::now()).await?;
        self.indexes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&repo.id);
        if let Ok(url) = self.check_url(&repo.url) {
            // The mirror may serve another org's repository with the same URL; keep it
            // unless nobody else tracks that URL.
            let others = self.store.all_repos().await?;
            if !others.iter().any(|(_, r)| r.url == repo.url) {
                let _ = Mirror::remove(&self.config.mirrors_dir, &url).await;
            }
        }
        Ok(())
    }

    /// Fetches what changed and indexes only new commits. A failure is recorded and returned;
    /// the previous mirror and index stay as they were.
    pub async fn refresh(&self, repo: &RepoRecord) -> ApiResult<()> {
        let lock = flight_lock(&self.refreshing, &repo.id);
        let _flight = lock.lock().await;
        match self.refresh_now(repo).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(repo = %repo.name, error = %e, "refresh failed");
                self.store
                    .refresh_failed(repo.id, &e.to_string(), Timestamp::now())
                    .await?;
                Err(ApiError::new(
                    axum::http::StatusCode::BAD_GATEWAY,
                    "git_failed",
                    e.to_string(),
                ))
            }
        }
    }

    /// Lets git tidy the repository's mirror (see [`Mirror::maintain`]): fetches add a small
    /// pack or loose objects each time, which slow git down as they pile up.
    async fn maintain(&self, repo: &RepoRecord) {
        let lock = flight_lock(&self.refreshing, &repo.id);
        let _flight = lock.lock().await;
        let Ok(url) = self.config.policy.check(&repo.url) else {
            return;
        };
        let outcome =
            match Mirror::open_or_clone(&self.config.mirrors_dir, &url, &self.config.options).await
            {
                Ok(mirror) => mirror.maintain().await,
                Err(e) => Err(e),
            };
        if let Err(e) = outcome {
            tracing::warn!(repo = %repo.name, error = %e, "mirror maintenance failed");
        }
    }

    async fn refresh_now(
        &self,
        repo: &RepoRecord,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let url = self.config.policy.check(&repo.url)?;
        // DNS may have changed since the repository was added.
        self.config.policy.check_resolved(&url).await?;
        tokio::fs::create_dir_all(&self.config.mirrors_dir).await?;
        let started = Instant::now();
        let mirror =
            Mirror::open_or_clone(&self.config.mirrors_dir, &url, &self.config.options).await?;
        let fetched = started.elapsed();
        let known: Vec<String> = self
            .store
            .repo_refs(repo.id)
            .await?
            .into_iter()
            .map(|(_, sha)| sha)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        // A full listing stores its commits as they come, so only an incremental refresh
        // knows exactly which commits are new.
        let full_listing = mirror.was_cloned() || known.is_empty();
        let (refs, new_commits, removed) = if full_listing {
            // A fresh mirror: list everything, storing it in batches as git produces it so
            // a large history is never held in memory whole. Whatever the index had that is
            // not listed now is no longer reachable.
            let refs = mirror.refs().await?;
            // Batches go to a writer task through a one-slot channel: bounded, so when the
            // store falls behind the listing waits rather than piling up the whole history
            // in memory, and one hand-over per batch, not one wake-up per commit.
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Commit>>(1);
            let store = self.store.clone();
            let repo_id = repo.id;
            // Only a re-listing over an existing index needs to know what was listed.
            let track_listed = !known.is_empty();
            let writer = tokio::spawn(async move {
                let mut listed = HashSet::new();
                while let Some(batch) = rx.recv().await {
                    if track_listed {
                        listed.extend(batch.iter().map(|c| c.sha.clone()));
                    }
                    store.insert_commits(repo_id, &batch).await?;
                }
                Ok::<_, evident_store::StoreError>(listed)
            });
            // Stored as they come: on a fresh clone the object database is read as it is.
            let everything = LogQuery {
                any_order: true,
                ..LogQuery::default()
            };
            let mut batch = Vec::with_capacity(STORE_BATCH);
            let listing = mirror
                .for_each_commit(&everything, |c| {
                    batch.push(convert(c));
                    if batch.len() < STORE_BATCH {
                        return std::ops::ControlFlow::Continue(());
                    }
                    hand_over(
                        &tx,
                        std::mem::replace(&mut batch, Vec::with_capacity(STORE_BATCH)),
                    )
                })
                .await;
            if listing.is_ok() && !batch.is_empty() {
                // A closed channel means the writer failed: its error is reported below.
                let _ = tx.send(batch).await;
            }
            drop(tx);
            let listed = writer.await??;
            listing?;
            if mirror.was_cloned() {
                // Later refreshes walk the history: give them the commit-graph, without
                // making this first index wait for it.
                let mirror = mirror.clone();
                tokio::spawn(async move { mirror.write_commit_graph().await });
            }
            let removed: Vec<String> = if known.is_empty() {
                Vec::new()
            } else {
                self.store
                    .repo_commits(repo.id)
                    .await?
                    .into_iter()
                    .map(|c| c.sha)
                    .filter(|s| !listed.contains(s))
                    .collect()
            };
            (refs, Vec::new(), removed)
        } else {
            let r = mirror.refresh(&known).await?;
            (
                r.refs,
                r.new_commits.into_iter().map(convert).collect(),
                r.removed,
            )
        };
        let indexed = started.elapsed();
        let refs: Vec<(String, String)> = refs.into_iter().map(|r| (r.name, r.sha)).collect();
        let commits: Vec<Commit> = new_commits;
        let generation = self
            .store
            .apply_refresh(repo.id, &refs, &commits, &removed, Timestamp::now())
            .await?;
        if !full_listing && removed.is_empty() {
            self.update_index(repo.id, generation, &commits, refs).await;
        }
        tracing::info!(
            repo = %repo.name,
            new = commits.len(),
            removed = removed.len(),
            clone_or_open_ms = fetched.as_millis() as u64,
            listed_ms = indexed.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "refreshed"
        );
        Ok(())
    }

    /// Brings the in-memory index, if any, up to `generation` by adding `new` commits, so
    /// they can be served as soon as the refresh returns; when that is not possible the
    /// next request reloads the index from the store.
    async fn update_index(
        &self,
        repo_id: i64,
        generation: i64,
        new: &[Commit],
        refs: Vec<(String, String)>,
    ) {
        let old = self
            .indexes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&repo_id)
            .cloned();
        let Some(old) = old else { return };
        if old.generation == generation {
            return; // Nothing changed.
        }
        let new = new.to_vec();
        let updated = tokio::task::spawn_blocking(move || {
            (old.generation + 1 == generation)
                .then(|| old.with_new_commits(generation, new, refs))
                .flatten()
        })
        .await
        .ok()
        .flatten();
        if let Some(ix) = updated {
            self.indexes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(repo_id, Arc::new(ix));
        }
    }

    /// The in-memory index of a repository, reloaded when the store's generation moved.
    /// Concurrent requests share one load.
    pub async fn index(&self, repo: &RepoRecord) -> ApiResult<Arc<RepoIndex>> {
        if let Some(ix) = self.cached_index(repo) {
            return Ok(ix);
        }
        let lock = flight_lock(&self.loading, &repo.id);
        let _loading = lock.lock().await;
        if let Some(ix) = self.cached_index(repo) {
            return Ok(ix); // Loaded by the request this one waited for.
        }
        let ix = RepoIndex::load(self.store.as_ref(), repo).await?;
        let mut indexes = self.indexes.lock().unwrap_or_else(|e| e.into_inner());
        let slot = indexes.entry(repo.id).or_insert_with(|| ix.clone());
        if slot.generation < ix.generation {
            *slot = ix.clone();
        }
        Ok(ix)
    }

    /// The index in memory, if it is at least as new as `repo`.
    fn cached_index(&self, repo: &RepoRecord) -> Option<Arc<RepoIndex>> {
        self.indexes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&repo.id)
            .filter(|ix| ix.generation >= repo.generation)
            .cloned()
    }

    /// The index of the tracked repository holding `sha`, if any.
    async fn index_holding(
        &self,
        org: &OrgRecord,
        sha: &str,
    ) -> ApiResult<Option<(RepoRecord, Arc<RepoIndex>)>> {
        let Some((repo, _)) = self
            .store
            .commits_by_prefix(org.id, sha)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let record = self.record(org, &repo).await?;
        let index = self.index(&record).await?;
        Ok(Some((record, index)))
    }

    /// For each pipeline whose artifact differs between the two sides of a diff, the
    /// commits the side-B version brings over the side-A version.
    pub async fn commit_changes(
        &self,
        org: &OrgRecord,
        diff: &SnapshotDiff,
    ) -> ApiResult<Vec<CommitChange>> {
        let mut out = Vec::new();
        for new in &diff.only_b {
            let (Some(pipeline), Some(to)) = (&new.pipeline, &new.git_commit) else {
                continue;
            };
            let Some(old) = diff
                .only_a
                .iter()
                .find(|a| a.pipeline.as_ref() == Some(pipeline))
            else {
                continue;
            };
            let Some(from) = &old.git_commit else {
                continue;
            };
            let mut change = CommitChange {
                pipeline: pipeline.clone(),
                from_commit: from.clone(),
                to_commit: to.clone(),
                repo: None,
                commits: Vec::new(),
                note: None,
            };
            match self.index_holding(org, to).await? {
                None => change.note = Some(format!("commit {to} is in no tracked repository")),
                Some((repo, index)) => {
                    change.repo = Some(repo.name.clone());
                    match index.between(from, to) {
                        Ok(ids) => {
                            change.commits = index
                                .commits_at(self.store.as_ref(), Some(repo.id), &ids)
                                .await?
                        }
                        Err(e) => change.note = Some(e.message),
                    }
                }
            }
            out.push(change);
        }
        Ok(out)
    }

    /// For each pipeline, the first artifact built from a commit that contains `commit`:
    /// which artifact an unknown commit first shipped in. Returns the repository, the full
    /// sha and the artifacts.
    pub async fn first_artifacts_containing(
        &self,
        org: &OrgRecord,
        commit: &str,
        artifacts: Vec<evident_store::ArtifactRecord>,
    ) -> ApiResult<(String, String, Vec<evident_store::ArtifactRecord>)> {
        let (repo, index) = self.index_holding(org, commit).await?.ok_or_else(|| {
            ApiError::not_found(format!("commit {commit} is in no tracked repository"))
        })?;
        let target = index.resolve_sha(commit)?;
        let containing = index.descendants(target);
        let mut first: HashMap<String, evident_store::ArtifactRecord> = HashMap::new();
        for a in artifacts {
            let Some(i) = a
                .git_commit
                .as_deref()
                .and_then(|c| index.resolve_sha(c).ok())
            else {
                continue;
            };
            if !containing.contains(&i) {
                continue;
            }
            // Reports in the same instant keep their report order (ids only grow).
            match first.get(&a.pipeline) {
                Some(f) if (f.created_at, f.id) <= (a.created_at, a.id) => {}
                _ => {
                    first.insert(a.pipeline.clone(), a);
                }
            }
        }
        let mut found: Vec<_> = first.into_values().collect();
        found.sort_by(|a, b| a.pipeline.cmp(&b.pipeline));
        Ok((repo.name, index.sha(target).to_string(), found))
    }

    /// The index of a repository nobody tracks, from a bounded cache of mirrors: reused for
    /// `ADHOC_FRESH`, then fetched again; the least recently used mirror beyond
    /// `ADHOC_CAPACITY` is deleted. Concurrent requests for one URL share one clone.
    pub async fn adhoc(&self, url: &str) -> ApiResult<Arc<RepoIndex>> {
        let checked = self.check_url_resolved(url).await?;
        let key = checked.key();
        if let Some(ix) = self.adhoc_cached(&key) {
            return Ok(ix);
        }
        let flight = flight_lock(&self.adhoc_flights, &key);
        let _flight = flight.lock().await;
        if let Some(ix) = self.adhoc_cached(&key) {
            return Ok(ix);
        }
        let failed = |e: evident_git::GitError| {
            ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "git_failed",
                e.to_string(),
            )
        };
        let root = self.config.mirrors_dir.join("adhoc");
        tokio::fs::create_dir_all(&root)
            .await
            .map_err(ApiError::internal)?;
        let source = evident_git::CommitSource {
            mirrors_root: root.clone(),
            git: self.config.options.clone(),
            github: self.config.github.clone(),
        };
        let listing = source
            .list(&checked, &LogQuery::default())
            .await
            .map_err(failed)?;
        tracing::info!(repo = %checked, via = ?listing.via, commits = listing.commits.len(), "listed ad hoc");
        // Each commit carries the names of the refs pointing at it.
        let refs: Vec<(String, String)> = listing
            .commits
            .iter()
            .flat_map(|c| c.refs.iter().map(|name| (name.clone(), c.sha.clone())))
            .collect();
        let commits: Vec<Commit> = listing.commits.into_iter().map(convert).collect();
        let ix = RepoIndex::all_hot(commits, refs).await?;
        let evicted = {
            let mut cache = self.adhoc.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            cache.insert(
                key.clone(),
                AdHocEntry {
                    index: ix.clone(),
                    fetched: now,
                    used: now,
                    url: checked.clone(),
                },
            );
            let mut evicted = Vec::new();
            while cache.len() > ADHOC_CAPACITY {
                let oldest = cache
                    .iter()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| k.clone());
                if let Some(e) = oldest.and_then(|k| cache.remove(&k)) {
                    evicted.push(e.url);
                }
            }
            evicted
        };
        for url in evicted {
            let _ = Mirror::remove(&root, &url).await;
        }
        Ok(ix)
    }

    fn adhoc_cached(&self, key: &str) -> Option<Arc<RepoIndex>> {
        let mut cache = self.adhoc.lock().unwrap_or_else(|e| e.into_inner());
        let entry = cache
            .get_mut(key)
            .filter(|e| e.fetched.elapsed() < ADHOC_FRESH)?;
        entry.used = Instant::now();
        Some(entry.index.clone())
    }

    /// Refreshes every tracked repository every `interval`, a few at a time, and lets git
    /// tidy each mirror after a successful refresh.
    pub fn spawn_refresher(self: &Arc<Self>) {
        let Some(interval) = self.config.refresh_interval else {
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let gate = Arc::new(tokio::sync::Semaphore::new(this.config.concurrency.max(1)));
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                let repos = match this.store.all_repos().await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot list repositories to refresh");
                        continue;
                    }
                };
                let mut tasks = Vec::new();
                for (_, repo) in repos {
                    let (this, gate) = (this.clone(), gate.clone());
                    tasks.push(tokio::spawn(async move {
                        let Ok(_permit) = gate.acquire().await else {
                            return;
                        };
                        if this.refresh(&repo).await.is_ok() {
                            this.maintain(&repo).await;
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::api::Signature;

    /// A deterministic history: commit `i` has one or two earlier parents and time `t(i)`.
    fn history(n: usize, t: impl Fn(usize) -> i64) -> Vec<Commit> {
        let sha = |i: usize| format!("{:040x}", (i as u128 + 1) * 0x9e37_79b9_7f4a_7c15);
        (0..n)
            .map(|i| {
                let mut parents = Vec::new();
                if i > 0 {
                    parents.push(sha(i - 1));
                }
                if i > 3 && i % 7 == 0 {
                    parents.push(sha(i - 3));
                }
                let sig = Signature {
                    name: format!("Dev {}", i % 5),
                    email: "dev@example.com".into(),
                    time: Timestamp::from_second(t(i)).unwrap(),
                    offset_minutes: 60,
                };
                Commit {
                    sha: sha(i),
                    parents,
                    author: sig.clone(),
                    committer: sig,
                    message: format!("change {i} | with: separators\n"),
                    refs: Vec::new(),
                }
            })
            .collect()
    }

    fn refs(pairs: &[(&str, &Commit)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, c)| (name.to_string(), c.sha.clone()))
            .collect()
    }

    #[tokio::test]
    async fn adding_pushed_commits_gives_the_index_a_full_rebuild_would() {
        // Several commits per second, so ties are broken by sha as in a full ordering; the
        // pushed ones (from 250 on) come a while later.
        let all = history(300, |i| {
            1_700_000_000 + (i as i64) / 3 + if i >= 250 { 1_000 } else { 0 }
        });
        let old = &all[..250];
        let old_refs = refs(&[("refs/heads/main", &old[249]), ("refs/tags/v1", &old[100])]);
        let before = RepoIndex::all_hot(old.to_vec(), old_refs).await.unwrap();
        // A push: 50 newer commits, main moves, and a new tag lands on an old commit.
        let new_refs = refs(&[
            ("refs/heads/main", &all[299]),
            ("refs/tags/v1", &all[100]),
            ("refs/tags/v2", &all[240]),
        ]);
        let updated = before
            .with_new_commits(7, all[250..].to_vec(), new_refs.clone())
            .expect("the fast path applies to newer commits");
        let rebuilt = RepoIndex::all_hot(all.clone(), new_refs).await.unwrap();
        assert_eq!(updated.generation, 7);
        assert_eq!(updated.shas, rebuilt.shas);
        assert_eq!(updated.parents, rebuilt.parents);
        assert_eq!(updated.by_sha, rebuilt.by_sha);
        assert_eq!(updated.hot, rebuilt.hot, "JSON, refs included");
        assert_eq!(updated.newest, rebuilt.newest);
        let v2 = updated.resolve_exact(&all[240].sha).unwrap();
        assert!(updated.hot[v2].contains("refs/tags/v2"));
    }

    #[tokio::test]
    async fn commits_not_newer_than_the_index_are_left_to_a_reload() {
        let all = history(20, |i| 1_700_000_000 + i as i64);
        let before = RepoIndex::all_hot(all[..10].to_vec(), Vec::new())
            .await
            .unwrap();
        let mut late = all[10].clone();
        late.committer.time = all[9].committer.time;
        assert!(before.with_new_commits(2, vec![late], Vec::new()).is_none());
        // A commit the index already has is not new.
        assert!(before
            .with_new_commits(2, vec![all[3].clone()], Vec::new())
            .is_none());
    }
}
