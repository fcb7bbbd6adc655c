//! PetSite's HTML pages: plain forms and links a person can click through (search, take me
//! home, pay, the adoption list, history, housekeeping). Every value from a service or a
//! request is escaped.

use std::fmt::Write as _;

use serde_json::Value;

pub(super) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

fn field(pet: &Value, name: &str) -> String {
    escape(pet[name].as_str().unwrap_or_default())
}

pub(super) fn layout(title: &str, trace_id: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title} - PetSite</title>\
<style>body{{font-family:sans-serif;margin:2em}}nav a{{margin-right:1em}}.pet{{display:inline-block;border:1px solid #ccc;margin:.5em;padding:.5em;width:180px;vertical-align:top}}</style>\
</head><body><nav><a id=\"searchpets\" href=\"/\">Search pets</a><a id=\"seeadoptionlist\" href=\"/PetListAdoptions\">See adoption list</a>\
<a id=\"pethistory\" href=\"/PetHistory\">Adoption history</a><a id=\"performhousekeeping\" href=\"/housekeeping\">Perform housekeeping</a></nav>\
<h1>{title}</h1>{body}<footer><small>trace <code id=\"traceid\">{trace}</code></small></footer></body></html>",
        title = escape(title),
        trace = escape(trace_id),
    )
}

fn options(name: &str, choices: &[&str], selected: &str) -> String {
    let mut html = format!("<select name=\"{name}\" id=\"{name}\">");
    for choice in choices {
        let mark = if *choice == selected { " selected" } else { "" };
        let _ = write!(html, "<option value=\"{choice}\"{mark}>{choice}</option>");
    }
    html.push_str("</select>");
    html
}

pub(super) fn search_page(pets: &[Value], pettype: &str, petcolor: &str, trace_id: &str) -> String {
    let mut body = String::from("<form method=\"get\" action=\"/\">");
    body.push_str(&options("selectedPetType", &["all", "puppy", "kitten", "bunny"], pettype));
    body.push_str(&options("selectedPetColor", &["all", "brown", "black", "white"], petcolor));
    body.push_str(" <button id=\"search\" type=\"submit\">Search</button></form>");
    for pet in pets {
        let available = pet["availability"].as_str() == Some("yes");
        let _ = write!(
            body,
            "<div class=\"pet\"><img src=\"{url}\" width=\"160\" height=\"120\" alt=\"{kind}\"><br>{kind} {id}, {color}<br>${price} · cuteness {cute}<br>",
            url = field(pet, "peturl"),
            kind = field(pet, "pettype"),
            id = field(pet, "petid"),
            color = field(pet, "petcolor"),
            price = field(pet, "price"),
            cute = field(pet, "cuteness_rate"),
        );
        if available {
            let _ = write!(
                body,
                "<form method=\"post\" action=\"/Adoption/TakeMeHome\"><input type=\"hidden\" name=\"pettype\" value=\"{}\">\
<input type=\"hidden\" name=\"petcolor\" value=\"{}\"><input type=\"hidden\" name=\"petid\" value=\"{}\">\
<button class=\"takemehome\" type=\"submit\">Take me home</button></form>",
                field(pet, "pettype"),
                field(pet, "petcolor"),
                field(pet, "petid")
            );
        } else {
            body.push_str("<em>adopted</em>");
        }
        body.push_str("</div>");
    }
    if pets.is_empty() {
        body.push_str("<p>No pets found.</p>");
    }
    layout("Pets waiting for a home", trace_id, &body)
}

pub(super) fn pet_page(pet: Option<&Value>, trace_id: &str) -> String {
    let Some(pet) = pet else { return layout("Pet not found", trace_id, "<p>That pet is gone.</p>") };
    let body = format!(
        "<img src=\"{url}\" width=\"320\" height=\"240\" alt=\"{kind}\"><p>{kind} {id}, {color}, ${price}</p>\
<form method=\"post\" action=\"/Payment/MakePayment\"><input type=\"hidden\" name=\"petId\" value=\"{id}\">\
<input type=\"hidden\" name=\"pettype\" value=\"{kind}\"><button id=\"pay\" type=\"submit\">Pay and adopt</button></form>",
        url = field(pet, "peturl"),
        kind = field(pet, "pettype"),
        id = field(pet, "petid"),
        color = field(pet, "petcolor"),
        price = field(pet, "price"),
    );
    layout("Take me home", trace_id, &body)
}

pub(super) fn payment_page(
    pet_id: &str,
    pettype: &str,
    tx_status: &str,
    error: Option<&str>,
    trace_id: &str,
) -> String {
    let mut body = format!(
        "<p>Adoption of {} {}: <strong id=\"txStatus\">{}</strong></p>",
        escape(pettype),
        escape(pet_id),
        escape(tx_status)
    );
    if let Some(error) = error {
        let _ = write!(body, "<p id=\"error\">{}</p>", escape(error));
    }
    body.push_str("<p><a id=\"adoptionlist\" href=\"/PetListAdoptions\">See the adoption list</a></p>");
    layout("Payment", trace_id, &body)
}

pub(super) fn adoption_list_page(pets: &[Value], trace_id: &str) -> String {
    let mut body = String::from("<table id=\"adoptions\"><tr><th>pet</th><th>type</th><th>colour</th><th>price</th><th>transaction</th><th>date</th></tr>");
    for pet in pets {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            field(pet, "petid"),
            field(pet, "pettype"),
            field(pet, "petcolor"),
            field(pet, "price"),
            field(pet, "transactionid"),
            field(pet, "adoptiondate")
        );
    }
    body.push_str("</table>");
    layout("Adopted pets", trace_id, &body)
}

pub(super) fn text_page(title: &str, text: &str, trace_id: &str) -> String {
    layout(title, trace_id, &format!("<pre>{}</pre>", escape(text)))
}

pub(super) fn error_page(message: &str, trace_id: &str) -> String {
    layout("Error", trace_id, &format!("<p id=\"error\">{}</p>", escape(message)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_from_services_are_escaped() {
        let pet = serde_json::json!({"pettype": "<script>", "petid": "1\"", "availability": "yes"});
        let page = super::search_page(&[pet], "all", "all", "1-2-3");
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;") && page.contains("1&quot;"));
    }
}
