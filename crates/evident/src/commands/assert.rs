//! `evident assert snapshot|artifact`: compliance gates with an exit code.

use evident_core::compliance::state_word;

use super::Ctx;
use crate::cli::AssertCmd;
use crate::{exit, output};

pub async fn run(ctx: &Ctx, cmd: AssertCmd) -> anyhow::Result<i32> {
    let org = ctx.org()?;
    let (compliant, label, reasons) = match cmd {
        AssertCmd::Snapshot { snappish } => {
            evident_core::Snappish::parse(&snappish, jiff::Timestamp::now())?;
            let s = ctx.client.snapshot(org, &snappish).await?;
            if ctx.json() {
                output::json(&s)?;
            }
            let reasons = s
                .artifacts
                .iter()
                .filter(|a| !a.compliant)
                .map(|a| format!("{}: {}", a.names.join(", "), a.reasons.join("; ")))
                .collect();
            (s.compliant, s.id, reasons)
        }
        AssertCmd::Artifact { reference } => {
            evident_core::ArtifactRef::parse(&reference)?;
            let a = ctx.client.artifact(org, &reference).await?;
            if ctx.json() {
                output::json(&a)?;
            }
            (a.compliant, a.name, a.reasons)
        }
    };
    if !ctx.json() {
        println!("{label}: {}", state_word(compliant));
        for r in &reasons {
            println!("  {r}");
        }
    }
    Ok(if compliant {
        exit::OK
    } else {
        exit::NON_COMPLIANT
    })
}
