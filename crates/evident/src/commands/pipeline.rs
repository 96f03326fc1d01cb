//! `evident pipeline`.

use evident_core::api::{PipelineRequest, Visibility};

use super::Ctx;
use crate::cli::{PipelineCmd, VisibilityArg};
use crate::{exit, output};

pub async fn run(ctx: &Ctx, cmd: PipelineCmd) -> anyhow::Result<i32> {
    let org = ctx.org()?;
    match cmd {
        PipelineCmd::Create {
            name,
            description,
            template,
            visibility,
        } => {
            let req = PipelineRequest {
                description,
                template: template.into_iter().filter(|t| !t.is_empty()).collect(),
                visibility: match visibility {
                    VisibilityArg::Public => Visibility::Public,
                    VisibilityArg::Private => Visibility::Private,
                },
            };
            let p = ctx.client.put_pipeline(org, &name, &req).await?;
            if ctx.json() {
                output::json(&p)?;
            } else {
                println!("Pipeline {} saved.", p.name);
            }
        }
        PipelineCmd::Ls => {
            let pipelines = ctx.client.pipelines(org).await?;
            if ctx.json() {
                output::json(&pipelines)?;
            } else {
                let rows: Vec<Vec<String>> = pipelines
                    .iter()
                    .map(|p| {
                        vec![
                            p.name.clone(),
                            p.description.clone(),
                            p.visibility.as_str().into(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    output::table(&["NAME", "DESCRIPTION", "VISIBILITY"], &rows, false)
                );
            }
        }
        PipelineCmd::Get { name } => {
            let p = ctx.client.pipeline(org, &name).await?;
            if ctx.json() {
                output::json(&p)?;
            } else {
                let w = 13;
                print!("{}", output::field("Name", w, &p.name));
                print!("{}", output::field("Description", w, &p.description));
                print!("{}", output::field("Visibility", w, p.visibility.as_str()));
                print!("{}", output::field("Template", w, &p.template.join(", ")));
            }
        }
    }
    Ok(exit::OK)
}
