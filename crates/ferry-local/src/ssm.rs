//! Systems Manager Parameter Store (AWS JSON 1.1), per the botocore model `models/ssm.json.gz`.

use crate::api::{ApiResult, Ctx, Input};

/// Runs one Systems Manager Parameter Store operation; None for an operation ferry local does not implement.
pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    let _ = (ctx, input);
    match operation {
        _ => None,
    }
}
