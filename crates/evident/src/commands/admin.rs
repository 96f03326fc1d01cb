//! `evident admin` (on the database), `evident org`, `evident user` (over the API).

use anyhow::Context;
use evident_core::api::{Role, Visibility};
use jiff::Timestamp;

use super::Ctx;
use crate::cli::{AdminCmd, OrgCmd, UserCmd};
use crate::config::default_database_url;
use crate::{exit, output};

pub async fn run_admin(cmd: AdminCmd) -> anyhow::Result<i32> {
    match cmd {
        AdminCmd::CreateToken {
            db,
            user,
            site_admin,
        } => {
            let store = open(db).await?;
            let record = match store.user(&user).await? {
                Some(u) => u,
                None => {
                    store
                        .create_user(&user, site_admin, Timestamp::now())
                        .await?
                }
            };
            let token =
                evident_server::mint_token(store.as_ref(), &record, "created with evident admin")
                    .await?;
            println!("{}", token.token);
            eprintln!("Token for {user} created; it is shown only once.");
        }
        AdminCmd::CreateOrg {
            name,
            db,
            private,
            admin,
        } => {
            let store = open(db).await?;
            let admin = match admin {
                Some(name) => Some(
                    store
                        .user(&name)
                        .await?
                        .with_context(|| format!("user {name:?} not found"))?
                        .id,
                ),
                None => None,
            };
            evident_core::refs::check_name(&name)?;
            let visibility = if private {
                Visibility::Private
            } else {
                Visibility::Public
            };
            store
                .create_org(&name, visibility, admin, Timestamp::now())
                .await?;
            eprintln!("Org {name} created.");
        }
    }
    Ok(exit::OK)
}

async fn open(db: Option<String>) -> anyhow::Result<std::sync::Arc<dyn evident_store::Store>> {
    let url = match db {
        Some(url) => url,
        None => default_database_url()?,
    };
    evident_store::connect(&url)
        .await
        .with_context(|| format!("cannot open database {}", evident_store::redact(&url)))
}

pub async fn run_org(ctx: &Ctx, cmd: OrgCmd) -> anyhow::Result<i32> {
    match cmd {
        OrgCmd::Create { name, private } => {
            let visibility = if private {
                Visibility::Private
            } else {
                Visibility::Public
            };
            let org = ctx.client.create_org(&name, visibility).await?;
            if ctx.json() {
                output::json(&org)?;
            } else {
                println!("Org {} created ({}).", org.name, org.visibility.as_str());
            }
        }
        OrgCmd::Ls => {
            let orgs = ctx.client.orgs().await?;
            if ctx.json() {
                output::json(&orgs)?;
            } else {
                let rows: Vec<Vec<String>> = orgs
                    .iter()
                    .map(|o| vec![o.name.clone(), o.visibility.as_str().to_string()])
                    .collect();
                print!("{}", output::table(&["NAME", "VISIBILITY"], &rows, false));
            }
        }
        OrgCmd::AddMember { user, role } => {
            let role = Role::parse(&role).context("role must be reader, writer or admin")?;
            ctx.client.set_member(ctx.org()?, &user, role).await?;
            eprintln!("{user} is now {} in {}.", role.as_str(), ctx.org()?);
        }
    }
    Ok(exit::OK)
}

pub async fn run_user(ctx: &Ctx, cmd: UserCmd) -> anyhow::Result<i32> {
    match cmd {
        UserCmd::Create { name, site_admin } => {
            let token = ctx.client.create_user(&name, site_admin).await?;
            if ctx.json() {
                output::json(&token)?;
            } else {
                println!("{}", token.token);
                eprintln!("Token for {name} created; it is shown only once.");
            }
        }
    }
    Ok(exit::OK)
}
