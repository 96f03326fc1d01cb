//! Upgrading a database written by an older evident keeps its data.

use std::borrow::Cow;

use evident_core::api::Visibility;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

/// The commit index moved from a WITHOUT ROWID table to a rowid table (migration 5); the
/// commits, their reachability and the repository's lookups must survive the move.
#[tokio::test]
async fn commit_index_survives_the_move_to_a_rowid_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut old = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        let mut before = sqlx::migrate!("migrations/sqlite");
        before.migrations = Cow::Owned(before.migrations[..4].to_vec());
        before.run(&mut old).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO orgs (id, name, visibility, created_at, last_hash) VALUES (1, 'o', 'public', 0, '');
             INSERT INTO repos (id, org_id, name, url, created_at, commit_count) VALUES (7, 1, 'r', 'https://x/r', 0, 1);
             INSERT INTO repo_commits VALUES
               (7, 'aa11', '[]', 'Ann', 'a@x', 10, 60, 'Ann', 'a@x', 11, 60, 'first | line', 1),
               (7, 'bb22', '[\"aa11\"]', 'Bob', 'b@x', 20, 0, 'Bob', 'b@x', 21, 0, '', 0);
             INSERT INTO repo_refs VALUES (7, 'refs/heads/main', 'aa11');",
        )
        .execute(&mut old)
        .await
        .unwrap();
    }
    let store = evident_store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let org = store.org("o").await.unwrap().unwrap();
    assert_eq!(org.visibility, Visibility::Public);
    let graph = store.repo_graph(7).await.unwrap();
    assert_eq!(
        graph,
        vec![("aa11".to_string(), vec![], 11)],
        "only the reachable commit"
    );
    let mut both = store.commits_by_shas(7, &["aa11", "bb22"]).await.unwrap();
    both.sort_by(|a, b| a.sha.cmp(&b.sha));
    assert_eq!(both.len(), 2, "unreachable commits are kept");
    assert_eq!(both[0].message, "first | line");
    assert_eq!(both[0].author.offset_minutes, 60);
    assert_eq!(both[1].parents, vec!["aa11".to_string()]);
    // The unique key still holds: re-inserting a known commit revives it instead of copying it.
    store.insert_commits(7, &both[1..]).await.unwrap();
    store
        .apply_refresh(7, &[], &[], &[], jiff::Timestamp::now())
        .await
        .unwrap();
    assert_eq!(store.repo_graph(7).await.unwrap().len(), 2);
    let repo = store.repo(1, "r").await.unwrap().unwrap();
    assert_eq!(repo.commits, 2);
    store.close().await;
}
