//! Evaluating parsed expressions against an item: conditions (a missing attribute makes a
//! comparison false, except `<>` which it makes true; values of different types are never
//! ordered), projections, and update actions, whose right-hand sides all read the item as it
//! was before the update, as the Developer Guide's "Update expressions" specifies.

use std::cmp::Ordering;

use super::expr::{Action, Cmp, Cond, Operand, Path, SetValue, Step, show_path};
use super::value::{AttrValue, Decimal, Item};

/// The value at a document path, if there is one.
pub fn get<'a>(item: &'a Item, path: &Path) -> Option<&'a AttrValue> {
    let (Step::Attr(first), rest) = path.split_first()? else { return None };
    let mut at = item.get(first)?;
    for step in rest {
        at = match (step, at) {
            (Step::Attr(k), AttrValue::M(m)) => m.get(k)?,
            (Step::Index(i), AttrValue::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(at)
}

fn operand<'a>(item: &'a Item, o: &'a Operand) -> Option<std::borrow::Cow<'a, AttrValue>> {
    use std::borrow::Cow;
    match o {
        Operand::Path(p) => get(item, p).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(p) => {
            let n = match get(item, p)? {
                AttrValue::S(s) => s.len(),
                AttrValue::B(b) => b.len(),
                AttrValue::Ss(s) => s.len(),
                AttrValue::Ns(s) => s.len(),
                AttrValue::Bs(s) => s.len(),
                AttrValue::M(m) => m.len(),
                AttrValue::L(l) => l.len(),
                _ => return None,
            };
            Some(Cow::Owned(AttrValue::N(Decimal::from_i64(n as i64))))
        }
    }
}

/// Whether `item` (an empty item when there is none) satisfies `cond`.
pub fn matches(item: &Item, cond: &Cond) -> bool {
    match cond {
        Cond::And(a, b) => matches(item, a) && matches(item, b),
        Cond::Or(a, b) => matches(item, a) || matches(item, b),
        Cond::Not(c) => !matches(item, c),
        Cond::Exists(p) => get(item, p).is_some(),
        Cond::NotExists(p) => get(item, p).is_none(),
        Cond::Compare(a, cmp, b) => match (operand(item, a), operand(item, b)) {
            (Some(x), Some(y)) => compare(&x, *cmp, &y),
            _ => *cmp == Cmp::Ne,
        },
        Cond::Between(v, lo, hi) => match (operand(item, v), operand(item, lo), operand(item, hi)) {
            (Some(v), Some(lo), Some(hi)) => {
                matches!(v.order(&lo), Some(Ordering::Greater | Ordering::Equal))
                    && matches!(v.order(&hi), Some(Ordering::Less | Ordering::Equal))
            }
            _ => false,
        },
        Cond::In(v, list) => match operand(item, v) {
            Some(v) => list.iter().any(|o| operand(item, o).is_some_and(|w| v.same(&w))),
            None => false,
        },
        Cond::Type(p, t) => match (get(item, p), operand(item, t)) {
            (Some(v), Some(t)) => matches!(&*t, AttrValue::S(name) if name == v.type_name()),
            _ => false,
        },
        Cond::BeginsWith(a, b) => match (operand(item, a), operand(item, b)) {
            (Some(a), Some(b)) => match (&*a, &*b) {
                (AttrValue::S(a), AttrValue::S(b)) => a.starts_with(b.as_str()),
                (AttrValue::B(a), AttrValue::B(b)) => a.starts_with(b),
                _ => false,
            },
            _ => false,
        },
        Cond::Contains(a, b) => match (operand(item, a), operand(item, b)) {
            (Some(a), Some(b)) => match (&*a, &*b) {
                (AttrValue::S(a), AttrValue::S(b)) => a.contains(b.as_str()),
                (AttrValue::B(a), AttrValue::B(b)) => b.is_empty() || a.windows(b.len()).any(|w| w == b.as_slice()),
                (AttrValue::Ss(a), AttrValue::S(b)) => a.contains(b),
                (AttrValue::Ns(a), AttrValue::N(b)) => a.contains(b),
                (AttrValue::Bs(a), AttrValue::B(b)) => a.contains(b),
                (AttrValue::L(a), b) => a.iter().any(|x| x.same(b)),
                _ => false,
            },
            _ => false,
        },
    }
}

fn compare(a: &AttrValue, cmp: Cmp, b: &AttrValue) -> bool {
    match cmp {
        Cmp::Eq => a.same(b),
        Cmp::Ne => !a.same(b),
        Cmp::Lt => a.order(b) == Some(Ordering::Less),
        Cmp::Le => matches!(a.order(b), Some(Ordering::Less | Ordering::Equal)),
        Cmp::Gt => a.order(b) == Some(Ordering::Greater),
        Cmp::Ge => matches!(a.order(b), Some(Ordering::Greater | Ordering::Equal)),
    }
}

/// The item cut down to `paths` (a projection expression): maps keep the named keys, lists
/// the named elements in their order.
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut tree = Selection::Fields(Default::default());
    for path in paths {
        tree.add(path);
    }
    let Selection::Fields(top) = &tree else { return Item::new() };
    top.iter().filter_map(|(name, sel)| Some((name.clone(), sel.apply(item.get(name)?)?))).collect()
}

/// What a projection keeps of a value: all of it, some keys of a map, some elements of a list.
enum Selection {
    All,
    Fields(std::collections::BTreeMap<String, Selection>),
    Elements(std::collections::BTreeMap<usize, Selection>),
}

impl Selection {
    fn add(&mut self, path: &[Step]) {
        let Some((step, rest)) = path.split_first() else {
            *self = Selection::All;
            return;
        };
        let child = match (step, &mut *self) {
            (_, Selection::All) => return,
            (Step::Attr(k), Selection::Fields(m)) => m.entry(k.clone()).or_insert(Selection::Fields(Default::default())),
            (Step::Index(i), Selection::Elements(m)) => m.entry(*i).or_insert(Selection::Fields(Default::default())),
            (Step::Attr(_), Selection::Elements(_)) | (Step::Index(_), Selection::Fields(_)) => {
                *self = match step {
                    Step::Attr(_) => Selection::Fields(Default::default()),
                    Step::Index(_) => Selection::Elements(Default::default()),
                };
                return self.add(path);
            }
        };
        if rest.is_empty() {
            *child = Selection::All;
        } else {
            if matches!(rest[0], Step::Index(_)) && !matches!(child, Selection::Elements(_)) {
                *child = Selection::Elements(Default::default());
            }
            child.add(rest);
        }
    }

    fn apply(&self, value: &AttrValue) -> Option<AttrValue> {
        match (self, value) {
            (Selection::All, v) => Some(v.clone()),
            (Selection::Fields(sel), AttrValue::M(m)) => {
                let kept: std::collections::BTreeMap<String, AttrValue> =
                    sel.iter().filter_map(|(k, s)| Some((k.clone(), s.apply(m.get(k)?)?))).collect();
                (!kept.is_empty()).then_some(AttrValue::M(kept))
            }
            (Selection::Elements(sel), AttrValue::L(l)) => {
                let kept: Vec<AttrValue> = sel.iter().filter_map(|(i, s)| s.apply(l.get(*i)?)).collect();
                (!kept.is_empty()).then_some(AttrValue::L(kept))
            }
            _ => None,
        }
    }
}

/// Why an update cannot be applied to an item (a ValidationException's message).
pub type UpdateError = String;

/// Applies update actions to `item`, every right-hand side read from `old` (the item before
/// the update). Errors in DynamoDB's words: an operand of the wrong type, a path that cannot
/// be set (its parent missing), an attribute the expression reads that the item lacks.
pub fn apply(item: &mut Item, old: &Item, actions: &[Action]) -> Result<(), UpdateError> {
    // REMOVE of list elements goes from the highest index down, so earlier removals do not
    // shift later ones.
    let mut removals: Vec<&Path> = Vec::new();
    for action in actions {
        match action {
            Action::Set(path, value) => {
                let v = set_value(old, value)?;
                set(item, path, v)?;
            }
            Action::Remove(path) => removals.push(path),
            Action::Add(path, value) => {
                let current = get(old, path);
                let next = match (current, value) {
                    (None, AttrValue::N(_) | AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)) => value.clone(),
                    (Some(AttrValue::N(a)), AttrValue::N(b)) => AttrValue::N(checked(a.add(b))?),
                    (Some(AttrValue::Ss(a)), AttrValue::Ss(b)) => AttrValue::Ss(union(a, b)),
                    (Some(AttrValue::Ns(a)), AttrValue::Ns(b)) => AttrValue::Ns(union(a, b)),
                    (Some(AttrValue::Bs(a)), AttrValue::Bs(b)) => AttrValue::Bs(union(a, b)),
                    (None, other) => {
                        return Err(format!(
                            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: {}",
                            other.type_name()
                        ));
                    }
                    (Some(_), _) => return Err("An operand in the update expression has an incorrect data type".into()),
                };
                set(item, path, next)?;
            }
            Action::Delete(path, value) => {
                if !matches!(value, AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)) {
                    return Err(format!(
                        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: {}",
                        value.type_name()
                    ));
                }
                let next = match (get(old, path), value) {
                    (None, _) => continue,
                    (Some(AttrValue::Ss(a)), AttrValue::Ss(b)) => Some(AttrValue::Ss(difference(a, b))).filter(|v| !is_empty_set(v)),
                    (Some(AttrValue::Ns(a)), AttrValue::Ns(b)) => Some(AttrValue::Ns(difference(a, b))).filter(|v| !is_empty_set(v)),
                    (Some(AttrValue::Bs(a)), AttrValue::Bs(b)) => Some(AttrValue::Bs(difference(a, b))).filter(|v| !is_empty_set(v)),
                    (Some(_), _) => return Err("An operand in the update expression has an incorrect data type".into()),
                };
                match next {
                    Some(v) => set(item, path, v)?,
                    None => remove(item, path),
                }
            }
        }
    }
    removals.sort_by_key(|p| std::cmp::Reverse(p.last().map(index_of)));
    for path in removals {
        remove(item, path);
    }
    Ok(())
}

fn index_of(step: &Step) -> Option<usize> {
    match step {
        Step::Index(i) => Some(*i),
        Step::Attr(_) => None,
    }
}

fn checked(n: Decimal) -> Result<Decimal, UpdateError> {
    n.check()?;
    Ok(n)
}

fn is_empty_set(v: &AttrValue) -> bool {
    matches!(v, AttrValue::Ss(s) if s.is_empty())
        || matches!(v, AttrValue::Ns(s) if s.is_empty())
        || matches!(v, AttrValue::Bs(s) if s.is_empty())
}

fn union<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = a.to_vec();
    for x in b {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

fn difference<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter().filter(|x| !b.contains(x)).cloned().collect()
}

fn set_value(old: &Item, value: &SetValue) -> Result<AttrValue, UpdateError> {
    let missing =
        |p: &Path| format!("The provided expression refers to an attribute that does not exist in the item; path: {}", show_path(p));
    Ok(match value {
        SetValue::Operand(Operand::Value(v)) => v.clone(),
        SetValue::Operand(Operand::Path(p)) => get(old, p).cloned().ok_or_else(|| missing(p))?,
        SetValue::Operand(Operand::Size(_)) => return Err("Invalid UpdateExpression: size is not allowed here".into()),
        SetValue::IfNotExists(p, v) => match get(old, p) {
            Some(existing) => existing.clone(),
            None => set_value(old, v)?,
        },
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            let (x, y) = (set_value(old, a)?, set_value(old, b)?);
            let (AttrValue::N(x), AttrValue::N(y)) = (&x, &y) else {
                return Err("An operand in the update expression has an incorrect data type".into());
            };
            let y = if matches!(value, SetValue::Minus(..)) { y.negate() } else { y.clone() };
            AttrValue::N(checked(x.add(&y))?)
        }
        SetValue::ListAppend(a, b) => {
            let (x, y) = (set_value(old, a)?, set_value(old, b)?);
            let (AttrValue::L(x), AttrValue::L(y)) = (x, y) else {
                return Err("An operand in the update expression has an incorrect data type".into());
            };
            AttrValue::L(x.into_iter().chain(y).collect())
        }
    })
}

/// Sets the value at a path: a top-level attribute always; a nested one when its parent
/// exists (a list index past the end appends).
pub fn set(item: &mut Item, path: &Path, value: AttrValue) -> Result<(), UpdateError> {
    let invalid = || "The document path provided in the update expression is invalid for update".to_string();
    let Some((Step::Attr(first), rest)) = path.split_first() else { return Err(invalid()) };
    if rest.is_empty() {
        item.insert(first.clone(), value);
        return Ok(());
    }
    let mut at = item.get_mut(first).ok_or_else(invalid)?;
    let (last, middle) = rest.split_last().ok_or_else(invalid)?;
    for step in middle {
        at = match (step, at) {
            (Step::Attr(k), AttrValue::M(m)) => m.get_mut(k).ok_or_else(invalid)?,
            (Step::Index(i), AttrValue::L(l)) => l.get_mut(*i).ok_or_else(invalid)?,
            _ => return Err(invalid()),
        };
    }
    match (last, at) {
        (Step::Attr(k), AttrValue::M(m)) => {
            m.insert(k.clone(), value);
        }
        (Step::Index(i), AttrValue::L(l)) => {
            if *i < l.len() {
                l[*i] = value;
            } else {
                l.push(value);
            }
        }
        _ => return Err(invalid()),
    }
    Ok(())
}

/// Removes the value at a path, if there is one.
pub fn remove(item: &mut Item, path: &Path) {
    let Some((Step::Attr(first), rest)) = path.split_first() else { return };
    let Some((last, middle)) = rest.split_last() else {
        item.remove(first);
        return;
    };
    let Some(mut at) = item.get_mut(first) else { return };
    for step in middle {
        let next = match (step, at) {
            (Step::Attr(k), AttrValue::M(m)) => m.get_mut(k),
            (Step::Index(i), AttrValue::L(l)) => l.get_mut(*i),
            _ => None,
        };
        let Some(next) = next else { return };
        at = next;
    }
    match (last, at) {
        (Step::Attr(k), AttrValue::M(m)) => {
            m.remove(k);
        }
        (Step::Index(i), AttrValue::L(l)) if *i < l.len() => {
            l.remove(*i);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::expr::{Kind, Placeholders, parse_condition, parse_projection, parse_update};
    use crate::dynamodb::value::item_from_json;
    use serde_json::json;

    fn item(v: serde_json::Value) -> Item {
        item_from_json(Some(&v)).unwrap()
    }

    fn values() -> Placeholders {
        let v = item(json!({
            ":one": {"N": "1"}, ":nine": {"N": "9"}, ":ten": {"N": "10"}, ":x": {"S": "x"}, ":ab": {"S": "ab"},
            ":list": {"L": [{"S": "z"}]}, ":set": {"SS": ["b", "c"]}, ":typeS": {"S": "S"}, ":typeN": {"S": "N"}
        }));
        Placeholders::new([("#k".to_string(), "key".to_string())].into(), v)
    }

    fn check(it: &Item, text: &str) -> bool {
        matches(it, &parse_condition(text, Kind::Condition, &mut values()).unwrap())
    }

    #[test]
    fn conditions_compare_numbers_numerically_and_handle_missing_attributes() {
        let it = item(
            json!({"n": {"N": "9"}, "s": {"S": "abc"}, "tags": {"SS": ["a", "b"]}, "l": {"L": [{"S": "x"}]}, "m": {"M": {"key": {"N": "10"}}}}),
        );
        assert!(check(&it, "n < :ten"), "9 < 10 as numbers, not strings");
        assert!(check(&it, "n BETWEEN :one AND :ten") && !check(&it, "n BETWEEN :ten AND :ten"));
        assert!(check(&it, "n IN (:one, :nine)") && !check(&it, "n IN (:one, :ten)"));
        assert!(!check(&it, "absent = :one") && check(&it, "absent <> :one"));
        assert!(!check(&it, "absent < :one") && !check(&it, "NOT absent <> :one"));
        assert!(check(&it, "begins_with(s, :ab) AND contains(tags, :ab) OR contains(l, :x)"));
        assert!(check(&it, "attribute_type(n, :typeN) AND NOT attribute_type(n, :typeS)"));
        assert!(check(&it, "size(s) = :one OR size(tags) < :ten"));
        assert!(check(&it, "m.#k = :ten AND l[0] = :x AND attribute_not_exists(l[1])"));
        assert!(!check(&it, "s < :one"), "values of different types are never ordered");
        assert!(check(&Item::new(), "attribute_not_exists(anything)"));
    }

    #[test]
    fn projections_keep_named_paths() {
        let it = item(
            json!({"a": {"S": "1"}, "b": {"M": {"c": {"N": "2"}, "d": {"N": "3"}}}, "l": {"L": [{"S": "p"}, {"S": "q"}, {"S": "r"}]}}),
        );
        let paths = parse_projection("a, b.c, l[2], l[0]", &mut Placeholders::default()).unwrap();
        assert_eq!(
            project(&it, &paths),
            item(json!({"a": {"S": "1"}, "b": {"M": {"c": {"N": "2"}}}, "l": {"L": [{"S": "p"}, {"S": "r"}]}}))
        );
    }

    #[test]
    fn updates_read_the_old_item_and_refuse_wrong_types() {
        let old =
            item(json!({"n": {"N": "5"}, "s": {"S": "str"}, "l": {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}]}, "strs": {"SS": ["a", "b"]}}));
        let mut ph = values();
        let actions = parse_update(
            "SET n = n + :one, m = if_not_exists(m, :ten), l = list_append(l, :list), c = n - :ten REMOVE s ADD strs :set, cnt :one",
            &mut ph,
        )
        .unwrap();
        let mut new = old.clone();
        apply(&mut new, &old, &actions).unwrap();
        assert_eq!(new["n"], AttrValue::N(Decimal::from_i64(6)));
        assert_eq!(new["c"], AttrValue::N(Decimal::from_i64(-5)), "read from the old n");
        assert_eq!(new["m"], AttrValue::N(Decimal::from_i64(10)));
        assert!(matches!(&new["l"], AttrValue::L(l) if l.len() == 4));
        assert_eq!(new["strs"], AttrValue::Ss(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(new["cnt"], AttrValue::N(Decimal::from_i64(1)));
        assert!(!new.contains_key("s"));

        let remove = parse_update("REMOVE l[0], l[2] DELETE strs :set", &mut values()).unwrap();
        let mut new = old.clone();
        apply(&mut new, &old, &remove).unwrap();
        assert_eq!(new["l"], AttrValue::L(vec![AttrValue::S("b".into())]));
        assert_eq!(new["strs"], AttrValue::Ss(vec!["a".into()]));

        let bad = parse_update("SET s = s + :one", &mut values()).unwrap();
        assert!(apply(&mut old.clone(), &old, &bad).unwrap_err().contains("incorrect data type"));
        let bad = parse_update("SET x = nope + :one", &mut values()).unwrap();
        assert!(apply(&mut old.clone(), &old, &bad).unwrap_err().contains("does not exist in the item"));
        let bad = parse_update("SET nope.deeper = :one", &mut values()).unwrap();
        assert!(apply(&mut old.clone(), &old, &bad).unwrap_err().contains("invalid for update"));
    }
}
