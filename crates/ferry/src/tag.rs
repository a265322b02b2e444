//! `ferry tag SERVICE VERSION ENV`: move an environment's registry tag by hand — the same
//! manifest copy a deploy does (ferry_app::tag).

use ferry_app::Context;
use ferry_app::tag::TagInput;

use crate::Failure;
use crate::cli::{GlobalArgs, TagArgs};
use crate::output::{Printer, short_digest};

pub async fn run(global: &GlobalArgs, args: TagArgs) -> Result<(), Failure> {
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &ferry_app::sink::Silent, cancel: Default::default() };
    let input = TagInput { service: args.service, version: args.version, environment: args.environment };
    let moved = ferry_app::tag::tag(&ctx, input).await?;
    let printer = Printer::new(global);
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "result", "command": "tag", "repository": moved.repository, "tag": moved.tag,
            "digest": moved.digest, "previous_digest": moved.previous_digest,
        }));
    } else {
        printer.out(&format!(
            "{}:{} → {} ({}){}",
            moved.repository,
            moved.tag,
            short_digest(&moved.digest),
            moved.version,
            moved.previous_digest.map(|b| format!(", was {}", short_digest(&b))).unwrap_or_default()
        ));
    }
    Ok(())
}
