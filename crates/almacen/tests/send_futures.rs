//! The futures of the public API are `Send`, so they run inside `tokio::spawn` and axum
//! handlers: each is spawned here, on every backend.

mod common;

use almacen::prelude::*;
use common::Backend;

#[derive(Model, Debug, Clone)]
#[model(table = "spawned")]
struct Spawned {
    #[model(primary_key, auto)]
    id: i64,
    n: i32,
}

async fn futures_run_in_spawned_tasks(db: Database, _b: Backend) {
    db.create_tables(&[Spawned::TABLE]).await.unwrap();
    let d = db.clone();
    let row = tokio::spawn(async move { Spawned::insert(&d, NewSpawned { n: 1 }).await }).await.unwrap().unwrap();
    let d = db.clone();
    tokio::spawn(async move { Spawned::get(&d, row.id).await }).await.unwrap().unwrap().unwrap();
    let d = db.clone();
    tokio::spawn(async move { Spawned::select().filter(Spawned::N.gt(0)).fetch_all(&d).await }).await.unwrap().unwrap();
    let d = db.clone();
    tokio::spawn(async move { d.fetch_all_raw("SELECT n FROM spawned WHERE n > :n", params! {"n" => 0}).await }).await.unwrap().unwrap();
    let d = db.clone();
    let id = row.id;
    tokio::spawn(async move {
        d.transaction(async |tx| -> almacen::Result<_> {
            let got = Spawned::get_for_update(tx, id).await?.ok_or(Error::NotFound)?;
            Spawned::patch(id).add(Spawned::N, 1).execute(tx).await?;
            Ok(got.n)
        })
        .await
    })
    .await
    .unwrap()
    .unwrap();
    let d = db.clone();
    tokio::spawn(async move {
        d.transaction_retry(TxOptions::serializable(), RetryPolicy::default(), async |tx| -> almacen::Result<_> {
            Spawned::patch(id).add(Spawned::N, 1).execute(tx).await
        })
        .await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(Spawned::get(&db, id).await.unwrap().unwrap().n, 3);

    // The repository, bulk and conditional writes, pages, counts and streams.
    let d = db.clone();
    let page = tokio::spawn(async move {
        let repo = Repository::<Spawned, _>::new(&d);
        let more = repo.create_many(vec![NewSpawned { n: 10 }, NewSpawned { n: 11 }]).await?;
        repo.get(more[0].id).await?;
        Spawned::update_where(Spawned::N.ge(10)).add(Spawned::N, 1).execute(&d).await?;
        repo.delete_by_key(more[1].id).await?;
        let page = repo.paginate(Spawned::select().order_by(Spawned::ID.asc()), 1, 10).await?;
        let streamed: Vec<_> = futures::StreamExt::collect(Spawned::select().stream(&d)).await;
        assert_eq!(streamed.len() as u64, repo.count(Spawned::select()).await?);
        Ok::<_, Error>(page)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(page.items.iter().map(|s| s.n).collect::<Vec<_>>(), [3, 11]);
}

per_backend!(futures_run_in_spawned_tasks);
