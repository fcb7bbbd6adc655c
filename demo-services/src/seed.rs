//! The 26 pets of the original's `seed.json` (spec §3.2), all available.

use serde::{Deserialize, Serialize};

/// One item of the pets table; every attribute is a string, as in the original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pet {
    pub pettype: String,
    pub petid: String,
    pub petcolor: String,
    pub availability: String,
    pub price: String,
    pub cuteness_rate: String,
    pub image: String,
}

/// petid, type, colour, price, cuteness, image.
const SEED: [(&str, &str, &str, &str, &str, &str); 26] = [
    ("001", "puppy", "black", "89", "5", "p9"),
    ("002", "puppy", "black", "99", "5", "p10"),
    ("003", "puppy", "brown", "99", "5", "p1"),
    ("004", "puppy", "black", "89", "5", "p11"),
    ("005", "puppy", "brown", "59", "3", "p3"),
    ("006", "puppy", "brown", "100", "3", "p6"),
    ("007", "puppy", "brown", "70", "4", "p4"),
    ("008", "puppy", "brown", "600", "5", "p7"),
    ("009", "puppy", "black", "60", "5", "p12"),
    ("010", "puppy", "brown", "80", "3", "p8"),
    ("011", "puppy", "white", "59", "4", "p14"),
    ("012", "puppy", "white", "79", "5", "p15"),
    ("013", "puppy", "white", "99", "4", "p2"),
    ("014", "puppy", "black", "79", "5", "p13"),
    ("015", "puppy", "white", "79", "4", "p5"),
    ("016", "kitten", "white", "79", "4", "k1"),
    ("017", "kitten", "white", "89", "5", "k3"),
    ("018", "kitten", "black", "99", "4", "k6"),
    ("019", "kitten", "grey", "99", "4", "k2"),
    ("020", "kitten", "brown", "89", "5", "k5"),
    ("021", "kitten", "brown", "65", "4", "k4"),
    ("022", "kitten", "black", "75", "5", "k7"),
    ("023", "bunny", "white", "75", "5", "b4"),
    ("024", "bunny", "brown", "45", "4", "b3"),
    ("025", "bunny", "brown", "55", "5", "b2"),
    ("026", "bunny", "brown", "95", "4", "b1"),
];

/// The seed, every pet available.
pub(crate) fn seed_pets() -> Vec<Pet> {
    SEED.iter()
        .map(|(petid, pettype, petcolor, price, cuteness, image)| Pet {
            pettype: (*pettype).to_owned(),
            petid: (*petid).to_owned(),
            petcolor: (*petcolor).to_owned(),
            availability: "yes".to_owned(),
            price: (*price).to_owned(),
            cuteness_rate: (*cuteness).to_owned(),
            image: (*image).to_owned(),
        })
        .collect()
}

/// The photo bucket's folder of a pet type (`kitten` for anything not a puppy or bunny).
pub(crate) fn photo_folder(pettype: &str) -> &'static str {
    match pettype {
        "bunny" => "bunnies",
        "puppy" => "puppies",
        _ => "kitten",
    }
}
