//! The blue-green, canary and linear strategies (issue 14): a service and a target group per
//! version, the new version ("green") tested behind a *preparing* listener rule, then
//! production traffic shifted to it on the *production* rule — all at once after an overlap
//! window (blue-green), or in weighted steps (canary, linear) — then the old version
//! ("blue") retired: its auto scaling remembered and moved to green, scaled to 0, tagged
//! `ferry:status=obsolete`, and deleted by a later deploy beyond the `keep` newest.

use std::time::Duration;

/// One step of a weighted shift: green's share of the production rule, in percent (1 to
/// 100), and how long it is held before the next step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightStep {
    pub percent: u32,
    pub hold: Duration,
}

/// How production traffic moves from blue to green.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shift {
    /// blue-green: both target groups on the production rule, with equal weights, for
    /// `overlap` (none when zero), then only green.
    AllAtOnce { overlap: Duration },
    /// canary and linear: green's share step by step, the last 100 %.
    Steps(Vec<WeightStep>),
}

impl Shift {
    /// Green's share at each step, in order, the last one 100 % (held 0: the bake follows).
    pub fn schedule(&self) -> Vec<WeightStep> {
        match self {
            Shift::AllAtOnce { overlap } if overlap.is_zero() => vec![WeightStep { percent: 100, hold: Duration::ZERO }],
            Shift::AllAtOnce { overlap } => {
                vec![WeightStep { percent: 50, hold: *overlap }, WeightStep { percent: 100, hold: Duration::ZERO }]
            }
            Shift::Steps(steps) => steps.clone(),
        }
    }
}

const STEP_EXAMPLE: &str = "expected a share and how long to hold it, like \"10%/5m\", or \"100%\" for the last step";

/// Parses one canary step: `"10%/5m"` (green gets 10 % for 5 minutes) or `"100%"`.
pub fn parse_step(text: &str) -> Result<WeightStep, String> {
    let quoted = crate::text::quoted(text);
    let (share, hold) = match text.trim().split_once('/') {
        Some((share, hold)) => (share.trim(), Some(hold.trim())),
        None => (text.trim(), None),
    };
    let percent = share
        .strip_suffix('%')
        .and_then(|p| p.trim().parse::<u32>().ok())
        .filter(|p| (1..=100).contains(p))
        .ok_or_else(|| format!("{quoted}: the share must be a percentage from 1% to 100%: {STEP_EXAMPLE}"))?;
    let hold = match hold {
        None => Duration::ZERO,
        Some(hold) => crate::config::parse_duration(hold).map_err(|e| format!("{quoted}: {}: {STEP_EXAMPLE}", e.message))?,
    };
    Ok(WeightStep { percent, hold })
}

/// Parses a canary's `steps`: shares rising, each but the last held for a while, the last
/// `"100%"` with no hold (the bake follows it).
pub fn parse_steps(steps: &[String]) -> Result<Vec<WeightStep>, String> {
    if steps.is_empty() {
        return Err("must list at least one step, e.g. [\"10%/5m\", \"50%/5m\", \"100%\"]".into());
    }
    let mut parsed: Vec<WeightStep> = Vec::with_capacity(steps.len());
    for (i, text) in steps.iter().enumerate() {
        let step = parse_step(text).map_err(|m| format!("step {}: {m}", i + 1))?;
        let last = i + 1 == steps.len();
        if let Some(before) = parsed.last()
            && step.percent <= before.percent
        {
            return Err(format!(
                "step {} ({}): the shares must rise, {}% follows {}%",
                i + 1,
                crate::text::quoted(text),
                step.percent,
                before.percent
            ));
        }
        if !last && step.hold.is_zero() {
            return Err(format!("step {} ({}): say how long to hold it, like \"{}%/5m\"", i + 1, crate::text::quoted(text), step.percent));
        }
        if last && step.percent != 100 {
            return Err(format!("the last step must be \"100%\" (it is {})", crate::text::quoted(text)));
        }
        if last && !step.hold.is_zero() {
            return Err(format!(
                "step {} ({}): the last step is not held (the deploy's bake follows it): write \"100%\"",
                i + 1,
                crate::text::quoted(text)
            ));
        }
        parsed.push(step);
    }
    Ok(parsed)
}

/// Parses linear's `"20%/2m"`: 20 %, 40 %, ... each held 2 minutes, then 100 %.
pub fn parse_linear(text: &str) -> Result<Vec<WeightStep>, String> {
    let step = parse_step(text)?;
    if step.percent >= 100 || step.hold.is_zero() {
        return Err(format!(
            "{}: expected the share added at each step (1% to 99%) and how long each is held, like \"20%/2m\"",
            crate::text::quoted(text)
        ));
    }
    let mut steps = Vec::new();
    let mut percent = step.percent;
    while percent < 100 {
        steps.push(WeightStep { percent, hold: step.hold });
        percent += step.percent;
    }
    steps.push(WeightStep { percent: 100, hold: Duration::ZERO });
    Ok(steps)
}
