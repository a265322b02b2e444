//! ELBv2: rules.

use super::Ctx;
use crate::api::{ApiResult, Input};

pub fn dispatch(operation: &str, _ctx: &mut Ctx, _input: &Input) -> Option<ApiResult> {
    match operation {
        _ => None,
    }
}
