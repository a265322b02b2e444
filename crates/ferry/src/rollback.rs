//! `ferry rollback ENV SERVICE [--to VERSION|REVISION]`: put a service back on an earlier
//! revision, watched exactly like a deploy (ferry_app::rollback chooses the target).

use ferry_app::Context;
use ferry_app::rollback::RollbackInput;

use crate::Failure;
use crate::cli::{GlobalArgs, RollbackArgs};
use crate::output::Printer;

pub async fn run(global: &GlobalArgs, args: RollbackArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: crate::app::cancel_on_ctrl_c() };
    let input = RollbackInput { environment: args.environment, service: args.service, to: args.to, timeout: args.timeout };
    let result = ferry_app::rollback::rollback(&ctx, input).await;
    crate::deploy::finish(&printer, result)
}
