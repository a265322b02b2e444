//! The DynamoDB expression language, parsed: condition expressions (also filter and key
//! condition expressions), projection expressions and update expressions, as the Developer
//! Guide's "Condition and filter expressions, operators, and functions" and "Update
//! expressions" give their grammar:
//!
//! ```text
//! condition  := or
//! or         := and ("OR" and)*
//! and        := not ("AND" not)*
//! not        := "NOT" not | primary
//! primary    := "(" condition ")"
//!             | function "(" operand ("," operand)* ")"     attribute_exists, attribute_not_exists,
//!                                                             attribute_type, begins_with, contains
//!             | operand comparator operand                   = <> < <= > >=
//!             | operand "BETWEEN" operand "AND" operand
//!             | operand "IN" "(" operand ("," operand)* ")"
//! operand    := path | ":value" | "size" "(" path ")"
//! path       := name ("." name | "[" digits "]")*            name := identifier | "#placeholder"
//! projection := path ("," path)*
//! update     := (("SET" set ("," set)*) | ("REMOVE" path ("," path)*)
//!              | ("ADD" path ":value" ("," …)*) | ("DELETE" path ":value" ("," …)*))+
//! set        := path "=" value
//! value      := term (("+" | "-") term)?
//! term       := operand | "if_not_exists" "(" path "," value ")" | "list_append" "(" value "," value ")"
//! ```
//!
//! Keywords and function names are case-insensitive. `#name` and `:value` placeholders are
//! resolved while parsing against the request's `ExpressionAttributeNames` and
//! `ExpressionAttributeValues` ([`Placeholders`]), which also records which were used, so that
//! an undefined one and an unused one are refused as DynamoDB refuses them.

use std::collections::{BTreeMap, BTreeSet};

use super::value::AttrValue;

/// One step of a document path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Attr(String),
    Index(usize),
}

/// A document path: a top-level attribute name, then map keys and list indexes.
pub type Path = Vec<Step>;

/// A path as DynamoDB shows it in messages: `[a, b, [2]]`.
pub fn show_path(path: &Path) -> String {
    let parts: Vec<String> = path
        .iter()
        .map(|s| match s {
            Step::Attr(a) => a.clone(),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Path(Path),
    Value(AttrValue),
    Size(Path),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "<>",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Compare(Operand, Cmp, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Exists(Path),
    NotExists(Path),
    Type(Path, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
}

/// The right side of a `SET` action.
#[derive(Clone, Debug, PartialEq)]
pub enum SetValue {
    Operand(Operand),
    Plus(Box<SetValue>, Box<SetValue>),
    Minus(Box<SetValue>, Box<SetValue>),
    IfNotExists(Path, Box<SetValue>),
    ListAppend(Box<SetValue>, Box<SetValue>),
}

/// One action of an update expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Set(Path, SetValue),
    Remove(Path),
    Add(Path, AttrValue),
    Delete(Path, AttrValue),
}

impl Action {
    pub fn path(&self) -> &Path {
        match self {
            Action::Set(p, _) | Action::Remove(p) | Action::Add(p, _) | Action::Delete(p, _) => p,
        }
    }
}

/// The request's `ExpressionAttributeNames` and `ExpressionAttributeValues`, and which of them
/// the request's expressions used.
#[derive(Default)]
pub struct Placeholders {
    pub names: BTreeMap<String, String>,
    pub values: BTreeMap<String, AttrValue>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl Placeholders {
    pub fn new(names: BTreeMap<String, String>, values: BTreeMap<String, AttrValue>) -> Placeholders {
        Placeholders { names, values, ..Default::default() }
    }

    /// DynamoDB's refusal of placeholders no expression used (names first, as AWS checks).
    pub fn check_all_used(&self) -> Result<(), String> {
        let unused: Vec<&String> = self.names.keys().filter(|k| !self.used_names.contains(*k)).collect();
        if !unused.is_empty() {
            return Err(format!("Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}", join(&unused)));
        }
        let unused: Vec<&String> = self.values.keys().filter(|k| !self.used_values.contains(*k)).collect();
        if !unused.is_empty() {
            return Err(format!("Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}", join(&unused)));
        }
        Ok(())
    }
}

fn join(keys: &[&String]) -> String {
    keys.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

/// Which expression is parsed: named in error messages (`Invalid ConditionExpression: …`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Condition,
    Filter,
    KeyCondition,
    Projection,
    Update,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Condition => "ConditionExpression",
            Kind::Filter => "FilterExpression",
            Kind::KeyCondition => "KeyConditionExpression",
            Kind::Projection => "ProjectionExpression",
            Kind::Update => "UpdateExpression",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Name(String),
    Value(String),
    Number(String),
    Sym(&'static str),
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Ident(s) | Tok::Name(s) | Tok::Value(s) | Tok::Number(s) => s.clone(),
            Tok::Sym(s) => s.to_string(),
        }
    }
}

/// Words DynamoDB reserves: an attribute name that is one of these must go through a `#name`
/// placeholder ("Reserved words in DynamoDB", the Developer Guide's list).
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "ABORT", "ABSOLUTE", "ACTION", "ADD", "AFTER", "AGENT", "AGGREGATE", "ALL", "ALLOCATE", "ALTER", "ANALYZE", "AND", "ANY", "ARCHIVE",
    "ARE", "ARRAY", "AS", "ASC", "ASCII", "ASENSITIVE", "ASSERTION", "ASYMMETRIC", "AT", "ATOMIC", "ATTACH", "ATTRIBUTE", "AUTH",
    "AUTHORIZATION", "AUTHORIZE", "AUTO", "AVG", "BACK", "BACKUP", "BASE", "BATCH", "BEFORE", "BEGIN", "BETWEEN", "BIGINT", "BINARY",
    "BIT", "BLOB", "BLOCK", "BOOLEAN", "BOTH", "BREADTH", "BUCKET", "BULK", "BY", "BYTE", "CALL", "CALLED", "CALLING", "CAPACITY",
    "CASCADE", "CASCADED", "CASE", "CAST", "CATALOG", "CHAR", "CHARACTER", "CHECK", "CLASS", "CLOB", "CLOSE", "CLUSTER", "CLUSTERED",
    "CLUSTERING", "CLUSTERS", "COALESCE", "COLLATE", "COLLATION", "COLLECTION", "COLUMN", "COLUMNS", "COMBINE", "COMMENT", "COMMIT",
    "COMPACT", "COMPILE", "COMPRESS", "CONDITION", "CONFLICT", "CONNECT", "CONNECTION", "CONSISTENCY", "CONSISTENT", "CONSTRAINT",
    "CONSTRAINTS", "CONSTRUCTOR", "CONSUMED", "CONTINUE", "CONVERT", "COPY", "CORRESPONDING", "COUNT", "COUNTER", "CREATE", "CROSS",
    "CUBE", "CURRENT", "CURSOR", "CYCLE", "DATA", "DATABASE", "DATE", "DATETIME", "DAY", "DEALLOCATE", "DEC", "DECIMAL", "DECLARE",
    "DEFAULT", "DEFERRABLE", "DEFERRED", "DEFINE", "DEFINED", "DEFINITION", "DELETE", "DELIMITED", "DEPTH", "DEREF", "DESC", "DESCRIBE",
    "DESCRIPTOR", "DETACH", "DETERMINISTIC", "DIAGNOSTICS", "DIRECTORIES", "DISABLE", "DISCONNECT", "DISTINCT", "DISTRIBUTE", "DO",
    "DOMAIN", "DOUBLE", "DROP", "DUMP", "DURATION", "DYNAMIC", "EACH", "ELEMENT", "ELSE", "ELSEIF", "EMPTY", "ENABLE", "END", "EQUAL",
    "EQUALS", "ERROR", "ESCAPE", "ESCAPED", "EVAL", "EVALUATE", "EXCEEDED", "EXCEPT", "EXCEPTION", "EXCEPTIONS", "EXCLUSIVE", "EXEC",
    "EXECUTE", "EXISTS", "EXIT", "EXPLAIN", "EXPLODE", "EXPORT", "EXPRESSION", "EXTENDED", "EXTERNAL", "EXTRACT", "FAIL", "FALSE",
    "FAMILY", "FETCH", "FIELDS", "FILE", "FILTER", "FILTERING", "FINAL", "FINISH", "FIRST", "FIXED", "FLATTERN", "FLOAT", "FOR", "FORCE",
    "FOREIGN", "FORMAT", "FORWARD", "FOUND", "FREE", "FROM", "FULL", "FUNCTION", "FUNCTIONS", "GENERAL", "GENERATE", "GET", "GLOB",
    "GLOBAL", "GO", "GOTO", "GRANT", "GREATER", "GROUP", "GROUPING", "HANDLER", "HASH", "HAVE", "HAVING", "HEAP", "HIDDEN", "HOLD",
    "HOUR", "IDENTIFIED", "IDENTITY", "IF", "IGNORE", "IMMEDIATE", "IMPORT", "IN", "INCLUDING", "INCLUSIVE", "INCREMENT", "INCREMENTAL",
    "INDEX", "INDEXED", "INDEXES", "INDICATOR", "INFINITE", "INITIALLY", "INLINE", "INNER", "INNTER", "INOUT", "INPUT", "INSENSITIVE",
    "INSERT", "INSTEAD", "INT", "INTEGER", "INTERSECT", "INTERVAL", "INTO", "INVALIDATE", "IS", "ISOLATION", "ITEM", "ITEMS", "ITERATE",
    "JOIN", "KEY", "KEYS", "LAG", "LANGUAGE", "LARGE", "LAST", "LATERAL", "LEAD", "LEADING", "LEAVE", "LEFT", "LENGTH", "LESS", "LEVEL",
    "LIKE", "LIMIT", "LIMITED", "LINES", "LIST", "LOAD", "LOCAL", "LOCALTIME", "LOCALTIMESTAMP", "LOCATION", "LOCATOR", "LOCK", "LOCKS",
    "LOG", "LOGED", "LONG", "LOOP", "LOWER", "MAP", "MATCH", "MATERIALIZED", "MAX", "MAXLEN", "MEMBER", "MERGE", "METHOD", "METRICS",
    "MIN", "MINUS", "MINUTE", "MISSING", "MOD", "MODE", "MODIFIES", "MODIFY", "MODULE", "MONTH", "MULTI", "MULTISET", "NAME", "NAMES",
    "NATIONAL", "NATURAL", "NCHAR", "NCLOB", "NEW", "NEXT", "NO", "NONE", "NOT", "NULL", "NULLIF", "NUMBER", "NUMERIC", "OBJECT", "OF",
    "OFFLINE", "OFFSET", "OLD", "ON", "ONLINE", "ONLY", "OPAQUE", "OPEN", "OPERATOR", "OPTION", "OR", "ORDER", "ORDINALITY", "OTHER",
    "OTHERS", "OUT", "OUTER", "OUTPUT", "OVER", "OVERLAPS", "OVERRIDE", "OWNER", "PAD", "PARALLEL", "PARAMETER", "PARAMETERS", "PARTIAL",
    "PARTITION", "PARTITIONED", "PARTITIONS", "PATH", "PERCENT", "PERCENTILE", "PERMISSION", "PERMISSIONS", "PIPE", "PIPELINED", "PLAN",
    "POOL", "POSITION", "PRECISION", "PREPARE", "PRESERVE", "PRIMARY", "PRIOR", "PRIVATE", "PRIVILEGES", "PROCEDURE", "PROCESSED",
    "PROJECT", "PROJECTION", "PROPERTY", "PROVISIONING", "PUBLIC", "PUT", "QUERY", "QUIT", "QUORUM", "RAISE", "RANDOM", "RANGE", "RANK",
    "RAW", "READ", "READS", "REAL", "REBUILD", "RECORD", "RECURSIVE", "REDUCE", "REF", "REFERENCE", "REFERENCES", "REFERENCING",
    "REGEXP", "REGION", "REINDEX", "RELATIVE", "RELEASE", "REMAINDER", "RENAME", "REPEAT", "REPLACE", "REQUEST", "RESET", "RESIGNAL",
    "RESOURCE", "RESPONSE", "RESTORE", "RESTRICT", "RESULT", "RETURN", "RETURNING", "RETURNS", "REVERSE", "REVOKE", "RIGHT", "ROLE",
    "ROLES", "ROLLBACK", "ROLLUP", "ROUTINE", "ROW", "ROWS", "RULE", "RULES", "SAMPLE", "SATISFIES", "SAVE", "SAVEPOINT", "SCAN",
    "SCHEMA", "SCOPE", "SCROLL", "SEARCH", "SECOND", "SECTION", "SEGMENT", "SEGMENTS", "SELECT", "SELF", "SEMI", "SENSITIVE", "SEPARATE",
    "SEQUENCE", "SERIALIZABLE", "SESSION", "SET", "SETS", "SHARD", "SHARE", "SHARED", "SHORT", "SHOW", "SIGNAL", "SIMILAR", "SIZE",
    "SKEWED", "SMALLINT", "SNAPSHOT", "SOME", "SOURCE", "SPACE", "SPACES", "SPARSE", "SPECIFIC", "SPECIFICTYPE", "SPLIT", "SQL",
    "SQLCODE", "SQLERROR", "SQLEXCEPTION", "SQLSTATE", "SQLWARNING", "START", "STATE", "STATIC", "STATUS", "STORAGE", "STORE", "STORED",
    "STREAM", "STRING", "STRUCT", "STYLE", "SUB", "SUBMULTISET", "SUBPARTITION", "SUBSTRING", "SUBTYPE", "SUM", "SUPER", "SYMMETRIC",
    "SYNONYM", "SYSTEM", "TABLE", "TABLESAMPLE", "TEMP", "TEMPORARY", "TERMINATED", "TEXT", "THAN", "THEN", "THROUGHPUT", "TIME",
    "TIMESTAMP", "TIMEZONE", "TINYINT", "TO", "TOKEN", "TOTAL", "TOUCH", "TRAILING", "TRANSACTION", "TRANSFORM", "TRANSLATE",
    "TRANSLATION", "TREAT", "TRIGGER", "TRIM", "TRUE", "TRUNCATE", "TTL", "TUPLE", "TYPE", "UNDER", "UNDO", "UNION", "UNIQUE", "UNIT",
    "UNKNOWN", "UNLOGGED", "UNNEST", "UNPROCESSED", "UNSIGNED", "UNTIL", "UPDATE", "UPPER", "URL", "USAGE", "USE", "USER", "USERS",
    "USING", "UUID", "VACUUM", "VALUE", "VALUED", "VALUES", "VARCHAR", "VARIABLE", "VARIANCE", "VARINT", "VARYING", "VIEW", "VIEWS",
    "VIRTUAL", "VOID", "WAIT", "WHEN", "WHENEVER", "WHERE", "WHILE", "WINDOW", "WITH", "WITHIN", "WITHOUT", "WORK", "WRAPPED", "WRITE",
    "YEAR", "ZONE",
];

/// Whether a word is reserved (case-insensitive).
pub fn is_reserved(word: &str) -> bool {
    let upper = word.to_ascii_uppercase();
    RESERVED.binary_search(&upper.as_str()).is_ok()
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && (chars[*i].is_alphanumeric() || chars[*i] == '_') {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' || c == ':' {
            i += 1;
            let w = word(&mut i);
            if w.is_empty() {
                return Err(format!("Syntax error; token: \"{c}\", near: \"{}\"", near(&chars, i - 1)));
            }
            out.push(if c == '#' { Tok::Name(format!("#{w}")) } else { Tok::Value(format!(":{w}")) });
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Tok::Number(chars[start..i].iter().collect()));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            out.push(Tok::Ident(word(&mut i)));
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let sym = match two.as_str() {
            "<>" => Some("<>"),
            "<=" => Some("<="),
            ">=" => Some(">="),
            _ => None,
        };
        if let Some(s) = sym {
            out.push(Tok::Sym(s));
            i += 2;
            continue;
        }
        let s = match c {
            '(' => "(",
            ')' => ")",
            '[' => "[",
            ']' => "]",
            ',' => ",",
            '.' => ".",
            '=' => "=",
            '<' => "<",
            '>' => ">",
            '+' => "+",
            '-' => "-",
            _ => return Err(format!("Invalid character encountered; character: \"{c}\"")),
        };
        out.push(Tok::Sym(s));
        i += 1;
    }
    Ok(out)
}

fn near(chars: &[char], at: usize) -> String {
    let start = at.saturating_sub(8);
    chars[start..(at + 8).min(chars.len())].iter().collect()
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    kind: Kind,
    ph: &'a mut Placeholders,
}

/// An expression's error: `Invalid <Kind>: <why>`, DynamoDB's wording.
fn invalid(kind: Kind, why: impl std::fmt::Display) -> String {
    format!("Invalid {}: {why}", kind.name())
}

impl<'a> Parser<'a> {
    fn new(text: &str, kind: Kind, ph: &'a mut Placeholders) -> Result<Parser<'a>, String> {
        if text.trim().is_empty() {
            return Err(invalid(kind, "The expression can not be empty;"));
        }
        let toks = tokenize(text).map_err(|e| invalid(kind, e))?;
        Ok(Parser { toks, pos: 0, kind, ph })
    }

    fn err(&self, why: impl std::fmt::Display) -> String {
        invalid(self.kind, why)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn syntax(&self) -> String {
        match self.peek() {
            Some(t) => {
                let around: Vec<String> =
                    self.toks[self.pos.saturating_sub(1)..(self.pos + 2).min(self.toks.len())].iter().map(Tok::text).collect();
                self.err(format!("Syntax error; token: \"{}\", near: \"{}\"", t.text(), around.join(" ")))
            }
            None => self.err("Syntax error; token: \"<EOF>\", near: end of expression"),
        }
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(x)) if x.eq_ignore_ascii_case(w))
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), String> {
        if self.is_sym(s) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    fn end(&self) -> Result<(), String> {
        if self.pos == self.toks.len() { Ok(()) } else { Err(self.syntax()) }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.peek().cloned() {
            Some(Tok::Ident(w)) => {
                if is_reserved(&w) {
                    return Err(self.err(format!("Attribute name is a reserved keyword; reserved keyword: {w}")));
                }
                self.pos += 1;
                Ok(w)
            }
            Some(Tok::Name(n)) => {
                self.pos += 1;
                let Some(v) = self.ph.names.get(&n).cloned() else {
                    return Err(
                        self.err(format!("An expression attribute name used in the document path is not defined; attribute name: {n}"))
                    );
                };
                self.ph.used_names.insert(n);
                Ok(v)
            }
            _ => Err(self.syntax()),
        }
    }

    fn path(&mut self) -> Result<Path, String> {
        let mut path = vec![Step::Attr(self.name()?)];
        loop {
            if self.is_sym(".") {
                self.pos += 1;
                path.push(Step::Attr(self.name()?));
            } else if self.is_sym("[") {
                self.pos += 1;
                let Some(Tok::Number(n)) = self.peek().cloned() else { return Err(self.syntax()) };
                self.pos += 1;
                let index = n.parse::<usize>().map_err(|_| self.err(format!("List index is too large; index: {n}")))?;
                path.push(Step::Index(index));
                self.expect_sym("]")?;
            } else {
                return Ok(path);
            }
        }
    }

    fn value(&mut self) -> Result<AttrValue, String> {
        let Some(Tok::Value(v)) = self.peek().cloned() else { return Err(self.syntax()) };
        self.pos += 1;
        let Some(value) = self.ph.values.get(&v).cloned() else {
            return Err(self.err(format!("An expression attribute value used in expression is not defined; attribute value: {v}")));
        };
        self.ph.used_values.insert(v);
        Ok(value)
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.peek() {
            Some(Tok::Value(_)) => Ok(Operand::Value(self.value()?)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("size") && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("("))) => {
                self.pos += 2;
                let path = match self.peek() {
                    Some(Tok::Value(_)) => {
                        return Err(
                            self.err("Incorrect operand type for operator or function; operator or function: size, operand type: value")
                        );
                    }
                    _ => self.path()?,
                };
                self.expect_sym(")")?;
                Ok(Operand::Size(path))
            }
            Some(Tok::Ident(w)) if is_function(w) && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("("))) => {
                Err(self.err(format!("The function is not allowed to be used this way in an expression; function: {w}")))
            }
            _ => Ok(Operand::Path(self.path()?)),
        }
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut left = self.and()?;
        while self.is_word("OR") {
            self.pos += 1;
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut left = self.not()?;
        while self.is_word("AND") {
            self.pos += 1;
            let right = self.not()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.is_word("NOT") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, String> {
        if self.is_sym("(") {
            self.pos += 1;
            let inner = self.or()?;
            self.expect_sym(")")?;
            return Ok(inner);
        }
        if let Some(Tok::Ident(w)) = self.peek().cloned()
            && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("(")))
            && !w.eq_ignore_ascii_case("size")
        {
            return self.function(&w);
        }
        let left = self.operand()?;
        let cmp = match self.peek() {
            Some(Tok::Sym("=")) => Some(Cmp::Eq),
            Some(Tok::Sym("<>")) => Some(Cmp::Ne),
            Some(Tok::Sym("<")) => Some(Cmp::Lt),
            Some(Tok::Sym("<=")) => Some(Cmp::Le),
            Some(Tok::Sym(">")) => Some(Cmp::Gt),
            Some(Tok::Sym(">=")) => Some(Cmp::Ge),
            _ => None,
        };
        if let Some(cmp) = cmp {
            self.pos += 1;
            let right = self.operand()?;
            if !matches!(cmp, Cmp::Eq | Cmp::Ne) {
                self.orderable(cmp.symbol(), &left)?;
                self.orderable(cmp.symbol(), &right)?;
            }
            if let (Operand::Path(a), Operand::Path(b)) = (&left, &right)
                && a == b
            {
                return Err(self.err(format!(
                    "The first operand must be distinct from the remaining operands for this operator or function; operator: {}, first operand: {}",
                    cmp.symbol(),
                    show_path(a)
                )));
            }
            return Ok(Cond::Compare(left, cmp, right));
        }
        if self.is_word("BETWEEN") {
            self.pos += 1;
            let low = self.operand()?;
            if !self.is_word("AND") {
                return Err(self.syntax());
            }
            self.pos += 1;
            let high = self.operand()?;
            for o in [&left, &low, &high] {
                self.orderable("BETWEEN", o)?;
            }
            if let (Operand::Value(lo), Operand::Value(hi)) = (&low, &high) {
                if lo.type_name() != hi.type_name() {
                    return Err(self.err(format!(
                        "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {{{}}}, upper bound operand: AttributeValue: {{{}}}",
                        shown(lo),
                        shown(hi)
                    )));
                }
                if lo.order(hi) == Some(std::cmp::Ordering::Greater) {
                    return Err(self.err(format!(
                        "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {{{}}}, upper bound operand: AttributeValue: {{{}}}",
                        shown(lo),
                        shown(hi)
                    )));
                }
            }
            return Ok(Cond::Between(left, low, high));
        }
        if self.is_word("IN") {
            self.pos += 1;
            self.expect_sym("(")?;
            let mut list = vec![self.operand()?];
            while self.is_sym(",") {
                self.pos += 1;
                list.push(self.operand()?);
            }
            self.expect_sym(")")?;
            if list.len() > 100 {
                return Err(self.err("The IN operator takes at most 100 operands"));
            }
            return Ok(Cond::In(left, list));
        }
        Err(self.syntax())
    }

    /// An ordering comparison takes only S, N and B constants.
    fn orderable(&self, op: &str, o: &Operand) -> Result<(), String> {
        if let Operand::Value(v) = o
            && !v.is_scalar_key()
        {
            return Err(self.err(format!(
                "Incorrect operand type for operator or function; operator or function: {op}, operand type: {}",
                v.type_name()
            )));
        }
        Ok(())
    }

    fn function(&mut self, name: &str) -> Result<Cond, String> {
        let lower = name.to_ascii_lowercase();
        if !is_function(&lower) {
            return Err(self.err(format!("Invalid function name; function: {name}")));
        }
        self.pos += 2;
        let mut args = vec![self.operand()?];
        while self.is_sym(",") {
            self.pos += 1;
            args.push(self.operand()?);
        }
        self.expect_sym(")")?;
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(invalid(
                    self.kind,
                    format!(
                        "Incorrect number of operands for operator or function; operator or function: {lower}, number of operands: {}",
                        args.len()
                    ),
                ))
            }
        };
        let path_arg = |o: &Operand| match o {
            Operand::Path(p) => Ok(p.clone()),
            other => Err(invalid(
                self.kind,
                format!(
                    "Operator or function requires a document path; operator or function: {lower}, operand type: {}",
                    match other {
                        Operand::Size(_) => "size",
                        _ => "value",
                    }
                ),
            )),
        };
        Ok(match lower.as_str() {
            "attribute_exists" => {
                arity(1)?;
                Cond::Exists(path_arg(&args[0])?)
            }
            "attribute_not_exists" => {
                arity(1)?;
                Cond::NotExists(path_arg(&args[0])?)
            }
            "attribute_type" => {
                arity(2)?;
                let path = path_arg(&args[0])?;
                if let Operand::Value(v) = &args[1] {
                    const TYPES: [&str; 10] = ["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];
                    match v {
                        AttrValue::S(t) if TYPES.contains(&t.as_str()) => {}
                        AttrValue::S(t) => {
                            return Err(self.err(format!(
                                "Invalid attribute type name found; type: {t}, valid types: {{ B,NULL,SS,BOOL,L,BS,N,NS,S,M }}"
                            )));
                        }
                        other => {
                            return Err(self.err(format!(
                                "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {}",
                                other.type_name()
                            )));
                        }
                    }
                }
                Cond::Type(path, args[1].clone())
            }
            "begins_with" => {
                arity(2)?;
                for a in &args {
                    if let Operand::Value(v) = a
                        && !matches!(v, AttrValue::S(_) | AttrValue::B(_))
                    {
                        return Err(self.err(format!(
                            "Incorrect operand type for operator or function; operator or function: begins_with, operand type: {}",
                            v.type_name()
                        )));
                    }
                }
                Cond::BeginsWith(args[0].clone(), args[1].clone())
            }
            "contains" => {
                arity(2)?;
                Cond::Contains(args[0].clone(), args[1].clone())
            }
            _ => return Err(self.err(format!("The function is not allowed to be used this way in an expression; function: {name}"))),
        })
    }

    fn set_value(&mut self) -> Result<SetValue, String> {
        let left = self.set_term()?;
        if self.is_sym("+") {
            self.pos += 1;
            return Ok(SetValue::Plus(Box::new(left), Box::new(self.set_term()?)));
        }
        if self.is_sym("-") {
            self.pos += 1;
            return Ok(SetValue::Minus(Box::new(left), Box::new(self.set_term()?)));
        }
        Ok(left)
    }

    fn set_term(&mut self) -> Result<SetValue, String> {
        if let Some(Tok::Ident(w)) = self.peek().cloned()
            && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("(")))
        {
            let lower = w.to_ascii_lowercase();
            self.pos += 2;
            let value = match lower.as_str() {
                "if_not_exists" => {
                    let path = self.path()?;
                    self.expect_sym(",")?;
                    let value = self.set_value()?;
                    SetValue::IfNotExists(path, Box::new(value))
                }
                "list_append" => {
                    let a = self.set_value()?;
                    self.expect_sym(",")?;
                    let b = self.set_value()?;
                    SetValue::ListAppend(Box::new(a), Box::new(b))
                }
                _ if is_function(&lower) || lower == "size" => {
                    return Err(self.err(format!("The function is not allowed in an update expression; function: {w}")));
                }
                _ => return Err(self.err(format!("Invalid function name; function: {w}"))),
            };
            self.expect_sym(")")?;
            return Ok(value);
        }
        match self.peek() {
            Some(Tok::Value(_)) => Ok(SetValue::Operand(Operand::Value(self.value()?))),
            _ => Ok(SetValue::Operand(Operand::Path(self.path()?))),
        }
    }
}

fn is_function(name: &str) -> bool {
    ["attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains", "size", "if_not_exists", "list_append"]
        .contains(&name.to_ascii_lowercase().as_str())
}

/// A value as DynamoDB shows it in messages: `N:5`, `S:abc`.
fn shown(v: &AttrValue) -> String {
    match v {
        AttrValue::S(s) => format!("S:{s}"),
        AttrValue::N(n) => format!("N:{n}"),
        other => other.type_name().to_string(),
    }
}

/// Parses a condition (or filter, or key condition) expression.
pub fn parse_condition(text: &str, kind: Kind, ph: &mut Placeholders) -> Result<Cond, String> {
    let mut p = Parser::new(text, kind, ph)?;
    let cond = p.or()?;
    p.end()?;
    Ok(cond)
}

/// Parses a projection expression: the paths to keep.
pub fn parse_projection(text: &str, ph: &mut Placeholders) -> Result<Vec<Path>, String> {
    let mut p = Parser::new(text, Kind::Projection, ph)?;
    let mut paths = vec![p.path()?];
    while p.is_sym(",") {
        p.pos += 1;
        paths.push(p.path()?);
    }
    p.end()?;
    check_overlap(&paths).map_err(|e| invalid(Kind::Projection, e))?;
    Ok(paths)
}

/// Parses an update expression into its actions, in the order given.
pub fn parse_update(text: &str, ph: &mut Placeholders) -> Result<Vec<Action>, String> {
    let mut p = Parser::new(text, Kind::Update, ph)?;
    let mut actions = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    while p.peek().is_some() {
        let Some(Tok::Ident(word)) = p.peek().cloned() else { return Err(p.syntax()) };
        let clause = word.to_ascii_uppercase();
        if !["SET", "REMOVE", "ADD", "DELETE"].contains(&clause.as_str()) {
            return Err(p.syntax());
        }
        if seen.contains(&clause) {
            return Err(p.err(format!("The \"{clause}\" section can only be used once in an update expression;")));
        }
        seen.push(clause.clone());
        p.pos += 1;
        loop {
            let path = p.path()?;
            let action = match clause.as_str() {
                "SET" => {
                    p.expect_sym("=")?;
                    Action::Set(path, p.set_value()?)
                }
                "REMOVE" => Action::Remove(path),
                "ADD" => Action::Add(path, p.value()?),
                _ => Action::Delete(path, p.value()?),
            };
            actions.push(action);
            if p.is_sym(",") {
                p.pos += 1;
            } else {
                break;
            }
        }
    }
    let paths: Vec<Path> = actions.iter().map(|a| a.path().clone()).collect();
    check_overlap(&paths).map_err(|e| invalid(Kind::Update, e))?;
    Ok(actions)
}

/// Two paths of one expression may not be the same or one inside the other.
fn check_overlap(paths: &[Path]) -> Result<(), String> {
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            let n = a.len().min(b.len());
            if a[..n] == b[..n] {
                return Err(format!(
                    "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {}, path two: {}",
                    show_path(a),
                    show_path(b)
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::value::Decimal;

    fn ph() -> Placeholders {
        Placeholders::new(
            [("#s".to_string(), "status".to_string()), ("#n".to_string(), "name".to_string())].into(),
            [
                (":one".to_string(), AttrValue::N(Decimal::from_i64(1))),
                (":five".to_string(), AttrValue::N(Decimal::from_i64(5))),
                (":s".to_string(), AttrValue::S("SS".into())),
                (":t".to_string(), AttrValue::Bool(true)),
            ]
            .into(),
        )
    }

    fn attr(name: &str) -> Operand {
        Operand::Path(vec![Step::Attr(name.into())])
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let mut p = ph();
        let c = parse_condition("a = :one OR b = :one AND NOT c = :one", Kind::Condition, &mut p).unwrap();
        let one = || Operand::Value(AttrValue::N(Decimal::from_i64(1)));
        assert_eq!(
            c,
            Cond::Or(
                Box::new(Cond::Compare(attr("a"), Cmp::Eq, one())),
                Box::new(Cond::And(
                    Box::new(Cond::Compare(attr("b"), Cmp::Eq, one())),
                    Box::new(Cond::Not(Box::new(Cond::Compare(attr("c"), Cmp::Eq, one()))))
                ))
            )
        );
        let grouped = parse_condition("(a = :one OR b = :one) and c = :one", Kind::Condition, &mut p).unwrap();
        assert!(matches!(grouped, Cond::And(..)));
    }

    #[test]
    fn paths_take_placeholders_dots_and_indexes() {
        let mut p = ph();
        let c = parse_condition("attribute_exists(#s.a[3].b)", Kind::Condition, &mut p).unwrap();
        assert_eq!(c, Cond::Exists(vec![Step::Attr("status".into()), Step::Attr("a".into()), Step::Index(3), Step::Attr("b".into())]));
        assert_eq!(p.check_all_used().unwrap_err(), "Value provided in ExpressionAttributeNames unused in expressions: keys: {#n}");
    }

    #[test]
    fn functions_between_in_and_size_parse() {
        let mut p = ph();
        for text in [
            "begins_with(a, :s)",
            "contains(#n, :s)",
            "attribute_type(a, :s) OR a = :s",
            "size(a) > :one",
            "a BETWEEN :one AND :five",
            "a IN (:one, :five, :s)",
            "attribute_not_exists(a) OR a < :five",
            "NOT (a <> :one)",
        ] {
            parse_condition(text, Kind::Condition, &mut p).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn errors_are_worded_as_dynamodb_words_them() {
        let mut p = ph();
        let err = |text: &str, p: &mut Placeholders| parse_condition(text, Kind::Condition, p).unwrap_err();
        assert_eq!(
            err("a = :nope", &mut p),
            "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :nope"
        );
        assert!(err("#x = :one", &mut p).contains("An expression attribute name used in the document path is not defined"));
        assert!(err("a = ", &mut p).starts_with("Invalid ConditionExpression: Syntax error; token: \"<EOF>\""));
        assert!(err("a = :one :five", &mut p).contains("Syntax error; token: \":five\""));
        assert!(err("status = :one", &mut p).contains("Attribute name is a reserved keyword; reserved keyword: status"));
        assert!(err("a BETWEEN :five AND :one", &mut p).contains("upper bound to be greater than or equal to lower bound"));
        assert!(
            err("a < :t", &mut p).contains("Incorrect operand type for operator or function; operator or function: <, operand type: BOOL")
        );
        assert!(err("nope(a)", &mut p).contains("Invalid function name; function: nope"));
        assert!(err("attribute_exists(:s)", &mut p).contains("requires a document path"));
        assert!(err("a = a", &mut p).contains("must be distinct"));
        assert!(err("", &mut p).contains("can not be empty"));
        assert!(err("a = :one ; b", &mut p).contains("Invalid character encountered"));
    }

    #[test]
    fn update_expressions_parse_each_clause_once_without_overlap() {
        let mut p = ph();
        let actions =
            parse_update("SET a = a + :one, b = if_not_exists(b, :five), c = list_append(c, :s) REMOVE d ADD e :one DELETE f :s", &mut p)
                .unwrap();
        assert_eq!(actions.len(), 6);
        assert!(matches!(&actions[0], Action::Set(_, SetValue::Plus(..))));
        assert!(matches!(&actions[3], Action::Remove(_)));
        let err = parse_update("SET a = :one SET b = :one", &mut p).unwrap_err();
        assert!(err.contains("\"SET\" section can only be used once"), "{err}");
        let err = parse_update("SET a = :one, a.b = :one", &mut p).unwrap_err();
        assert!(err.contains("Two document paths overlap"), "{err}");
        let err = parse_update("SET a = size(b)", &mut p).unwrap_err();
        assert!(err.contains("not allowed in an update expression"), "{err}");
        assert!(parse_update("PUT a = :one", &mut p).unwrap_err().contains("Syntax error"));
    }

    #[test]
    fn reserved_words_are_sorted_for_the_lookup() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
        assert!(is_reserved("Status") && is_reserved("ttl") && !is_reserved("pk"));
    }
}
