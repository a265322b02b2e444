//! AWS region names: what a real one looks like, so a typo (`us-east1`) is refused by
//! `ferry check` instead of surfacing later as "cluster dev not found".

use crate::text;

/// The regions AWS has announced, across partitions (commercial, GovCloud, China, the
/// isolated ones and the European Sovereign Cloud). A name of the same shape that is not
/// here is accepted too (regions keep being added); this list is for suggestions.
pub const KNOWN_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "eu-isoe-west-1",
    "eusc-de-east-1",
];

/// The directions region names use, between the area and the number.
const DIRECTIONS: &[&str] = &["central", "north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest"];

/// Whether `name` has the shape of an AWS region: one or two lowercase area words
/// (`us`, `eu`, `ap`, `us-gov`, `cn`, `eusc-de` ...), a direction and a number:
/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-7`.
pub fn is_region_shaped(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let (area, rest) = match parts.len() {
        3 => (&parts[..1], &parts[1..]),
        4 => (&parts[..2], &parts[2..]),
        _ => return false,
    };
    let area_ok = area.iter().all(|w| (2..=5).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_lowercase()));
    let direction_ok = DIRECTIONS.contains(&rest[0]);
    let number_ok = (1..=2).contains(&rest[1].len()) && rest[1].bytes().all(|b| b.is_ascii_digit()) && !rest[1].starts_with('0');
    area_ok && direction_ok && number_ok
}

/// Checks a region name; the error says what a region looks like and, for a typo, which
/// region was probably meant.
pub fn check_region(name: &str) -> Result<(), crate::error::Error> {
    if is_region_shaped(name) {
        return Ok(());
    }
    let mut message =
        format!("{} is not an AWS region name (they look like \"us-east-1\", \"eu-central-2\" or \"us-gov-west-1\")", text::quoted(name));
    let suggestion = text::closest(name, KNOWN_REGIONS.iter().copied()).or_else(|| {
        // `useast1`, `US-EAST-1`: the same letters and digits as a known region.
        let squashed: String = name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
        KNOWN_REGIONS.iter().copied().find(|r| r.replace('-', "") == squashed)
    });
    if let Some(region) = suggestion {
        message.push_str(&format!("; did you mean \"{region}\"?"));
    }
    Err(crate::error::Error::invalid(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_region_names_have_the_shape() {
        for region in KNOWN_REGIONS {
            assert!(is_region_shaped(region), "{region}");
        }
        // A region AWS has not opened yet, of the same shape, is accepted.
        assert!(check_region("eu-west-9").is_ok());
    }

    #[test]
    fn a_region_typo_us_east1_is_refused_suggesting_us_east_1() {
        assert_eq!(
            check_region("us-east1").unwrap_err().message,
            "\"us-east1\" is not an AWS region name (they look like \"us-east-1\", \"eu-central-2\" or \"us-gov-west-1\"); did you mean \"us-east-1\"?"
        );
        assert!(check_region("US-EAST-1").unwrap_err().message.ends_with("did you mean \"us-east-1\"?"));
        assert!(check_region("euwest1").unwrap_err().message.ends_with("did you mean \"eu-west-1\"?"));
        assert!(check_region("eu-cental-1").unwrap_err().message.ends_with("did you mean \"eu-central-1\"?"));
        assert!(check_region("ap-southeast-07").unwrap_err().contains("did you mean \"ap-southeast-7\"?"));
        assert!(!check_region("mars").unwrap_err().contains("did you mean"));
        assert!(check_region("").is_err());
    }
}
