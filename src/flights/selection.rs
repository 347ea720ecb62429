//! A page of offers written as JSON by walking its selection set: the value
//! of `searchFlights { offers { … } }` in one synchronous pass, without a
//! value tree.
//!
//! async-graphql resolves every field of an object through its own boxed
//! future, collected in a `FuturesUnordered` and merged into a map as they
//! finish. A 20-offer page with carriers and airports is ≈ 1,200 fields, and
//! resolving them that way was 22 % of the server's profile in a round of
//! 1,000 uncached searches, most of it the machinery rather than the values.
//! Walking the selection set instead still built a `Value` tree (a map per
//! object, each key hashed, a string per value), which the response writer
//! then walked again: ≈ 20 % of the same profile. Nothing under `offers`
//! waits on anything except the names of carriers the embedded dataset
//! lacks, so [`resolve_page`] first collects the selection set once per
//! page into a [`Plan`] (the specification's CollectFields: aliases, the
//! same response key selected twice merged, fragment spreads and inline
//! fragments with their type conditions, `__typename`), then writes each
//! offer's JSON straight from the plan into one buffer, answered as a
//! [`Prerendered`] marker that the response writer splices in
//! ([`crate::graphql::prerendered`]). `@skip` and `@include` are applied
//! by async-graphql before execution starts, and the schema declares no
//! other executable directive.
//!
//! async-graphql merges two fields of one response key by merging their
//! values, which a marker does not support: when the `offers` field or a
//! field above it shares its response key with another
//! ([`key_is_unique`]), the page is answered as a value tree read back from
//! the text instead (rare: the same field selected twice under one name).
//!
//! The `#[Object]` resolvers in [`super::resolvers`] still define these
//! types (SDL, introspection, validation) and resolve offers outside a page
//! (`flightOffer`, progress subscriptions); the test at the bottom resolves
//! every field of the subtree, read from the SDL, both ways and compares
//! the JSON, so a field added to one and not the other fails it.
//!
//! A carrier the dataset lacks is noted during the walk; the page's noted
//! carriers are then named in one batch through the request's
//! [`ReferenceLoader`] (as the field resolvers do) and the page is written
//! again with the names. Every carrier the sandbox flies is in the
//! dataset, so its searches never need the second pass.

use std::collections::HashMap;

use async_graphql::dataloader::DataLoader;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::{MetaType, MetaTypeName};
use async_graphql::resolver_utils::enum_value;
use async_graphql::{
    ContextSelectionSet, Name, Positioned, QueryPathSegment, ScalarType as _, ServerError, ServerResult,
};

use super::aggregator::{Alternative, RankedOffers};
use super::model::{Itinerary, Money, Offer, OfferLabel, Segment, SegmentEnd, iso_duration};
use super::resolvers::local_time;
use super::{CarrierCode, ReferenceLoader};
use crate::graphql::prerendered::{Prerendered, write_list, write_separated, write_serde, write_value};
use crate::graphql::scalars::DateTime;
use crate::reference::{Airport, ReferenceData};

/// The `offers` field's value for `page` as JSON text: what
/// `Vec<FlightOfferObject>` resolves to, without a future per field or a
/// value tree.
pub async fn resolve_page(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    page: &RankedOffers,
) -> ServerResult<Prerendered> {
    let plan = Plan::of(ctx, &[&field.node.selection_set.node], RankedOffer::TYPE)?;
    let unnamed = HashMap::new();
    let mut walk = Walk { named: &unnamed, missing: Vec::new() };
    let written = walk.page(&plan, page)?;
    if walk.missing.is_empty() {
        return Ok(written);
    }
    // Without a loader the dataset is all there is: the walk stands.
    let Some(loader) = ctx.data_opt::<DataLoader<ReferenceLoader>>() else {
        return Ok(written);
    };
    let codes: Vec<CarrierCode> = std::mem::take(&mut walk.missing).into_iter().map(CarrierCode).collect();
    let named: HashMap<String, Option<String>> = loader
        .load_many(codes.iter().cloned())
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(code, carrier)| (code.0, carrier.name))
        .collect();
    // A code the loader could not name stays unnamed, as in the field resolver.
    let named: HashMap<String, Option<String>> =
        codes.into_iter().map(|code| (code.0.clone(), named.get(&code.0).cloned().flatten())).collect();
    Walk { named: &named, missing: Vec::new() }.page(&plan, page)
}

/// Whether every field on the path to the field being resolved is the only
/// one of its response key in its selection set (fragments included, their
/// type conditions ignored: a doubt answers no). When it is not,
/// async-graphql merges the values of the fields that share the key, and a
/// [`Prerendered`] marker cannot be merged.
pub fn key_is_unique(ctx: &ContextSelectionSet<'_>) -> bool {
    let mut keys = Vec::new();
    let mut node = ctx.path_node.as_ref();
    while let Some(path) = node {
        if let QueryPathSegment::Name(key) = path.segment {
            keys.push(key);
        }
        node = path.parent;
    }
    let fragments = &ctx.query_env.fragments;
    let mut set = &ctx.query_env.operation.node.selection_set.node;
    for key in keys.into_iter().rev() {
        let mut found = Vec::new();
        fields_named(set, key, fragments, &mut found);
        let [only] = found[..] else { return false };
        set = &only.node.selection_set.node;
    }
    true
}

/// The fields of `set` whose response key is `key`, through its fragments.
fn fields_named<'d>(
    set: &'d SelectionSet,
    key: &str,
    fragments: &'d HashMap<Name, Positioned<async_graphql::parser::types::FragmentDefinition>>,
    found: &mut Vec<&'d Positioned<Field>>,
) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) if field.node.response_key().node == key => found.push(field),
            Selection::Field(_) => {}
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = fragments.get(&spread.node.fragment_name.node) {
                    fields_named(&fragment.node.selection_set.node, key, fragments, found);
                }
            }
            Selection::InlineFragment(fragment) => {
                fields_named(&fragment.node.selection_set.node, key, fragments, found)
            }
        }
    }
}

/// Selection sets collected for one object type: each response key once,
/// in the order it first appears, with the sub-selections of every field
/// selected under it collected together for the field's own type.
#[derive(Debug, Default)]
struct Plan<'d> {
    fields: Vec<Planned<'d>>,
}

/// One response key of a [`Plan`].
#[derive(Debug)]
struct Planned<'d> {
    /// The key as JSON and a colon, written once per plan.
    key: Vec<u8>,
    /// The first field selected under the key: its name and position.
    field: &'d Positioned<Field>,
    /// The fields below it, when it is an object or a list of objects.
    below: Plan<'d>,
}

impl<'d> Plan<'d> {
    /// `sets`, selected on an object of type `ty`.
    fn of(ctx: &'d ContextSelectionSet<'_>, sets: &[&'d SelectionSet], ty: &str) -> ServerResult<Self> {
        let mut keyed: Vec<(&'d str, Vec<&'d Positioned<Field>>)> = Vec::new();
        for set in sets {
            collect(ctx, set, ty, &mut keyed)?;
        }
        let mut fields = Vec::with_capacity(keyed.len());
        for (key, selected) in keyed {
            let Some(&field) = selected.first() else { continue };
            let name = field.node.name.node.as_str();
            let below = match object_field_type(ctx, ty, name) {
                _ if name == "__typename" => Plan::default(),
                Some(Some(object)) => {
                    let sets: Vec<&'d SelectionSet> = selected.iter().map(|f| &f.node.selection_set.node).collect();
                    Plan::of(ctx, &sets, object)?
                }
                Some(None) => Plan::default(),
                // Validation refuses these before execution; kept as an error, not a panic.
                None => return Err(unknown_field(field, ty)),
            };
            let mut written = Vec::with_capacity(key.len() + 3);
            write_serde(&mut written, key);
            written.push(b':');
            fields.push(Planned { key: written, field, below });
        }
        Ok(Self { fields })
    }
}

/// `set`'s fields that apply to an object of type `ty`, by response key.
fn collect<'d>(
    ctx: &'d ContextSelectionSet<'_>,
    set: &'d SelectionSet,
    ty: &str,
    keyed: &mut Vec<(&'d str, Vec<&'d Positioned<Field>>)>,
) -> ServerResult<()> {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let key = field.node.response_key().node.as_str();
                // A linear search: a selection set has a few dozen keys at most.
                match keyed.iter_mut().find(|(kept, _)| *kept == key) {
                    Some((_, selected)) => selected.push(field),
                    None => keyed.push((key, vec![field])),
                }
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                let fragment = ctx
                    .query_env
                    .fragments
                    .get(name)
                    .ok_or_else(|| ServerError::new(format!(r#"Unknown fragment "{name}"."#), Some(spread.pos)))?;
                if applies(ctx, ty, Some(fragment.node.type_condition.node.on.node.as_str())) {
                    collect(ctx, &fragment.node.selection_set.node, ty, keyed)?;
                }
            }
            Selection::InlineFragment(fragment) => {
                let condition = fragment.node.type_condition.as_ref().map(|c| c.node.on.node.as_str());
                if applies(ctx, ty, condition) {
                    collect(ctx, &fragment.node.selection_set.node, ty, keyed)?;
                }
            }
        }
    }
    Ok(())
}

/// Whether a fragment on `condition` applies to a `ty`: its own type or an interface it implements.
fn applies(ctx: &ContextSelectionSet<'_>, ty: &str, condition: Option<&str>) -> bool {
    condition.is_none_or(|condition| {
        condition == ty
            || ctx.schema_env.registry.implements.get(ty).is_some_and(|interfaces| interfaces.contains(condition))
    })
}

/// The type of `ty`'s field `name`: `Some(Some(object))` for an object (or a
/// list of them), `Some(None)` for a scalar or enum, `None` when `ty` has
/// no such field.
fn object_field_type<'r>(ctx: &'r ContextSelectionSet<'_>, ty: &str, name: &str) -> Option<Option<&'r str>> {
    let registry = &ctx.schema_env.registry;
    let field = registry.types.get(ty)?.field_by_name(name)?;
    let named = MetaTypeName::concrete_typename(&field.ty);
    Some(match registry.types.get(named) {
        Some(MetaType::Object { .. }) => Some(named),
        _ => None,
    })
}

/// One pass writing a page.
struct Walk<'c> {
    /// Carriers the dataset lacks, as the reference loader named them.
    named: &'c HashMap<String, Option<String>>,
    /// Carriers the dataset lacks that `named` has no entry for yet.
    missing: Vec<String>,
}

impl Walk<'_> {
    fn page(&mut self, plan: &Plan<'_>, page: &RankedOffers) -> ServerResult<Prerendered> {
        // ≈ 1.2 KiB of JSON per offer with carriers and airports selected.
        Prerendered::write(1_280 * page.offers.len(), |out| {
            let offers =
                page.offers.iter().map(|(offer, labels, alternatives)| RankedOffer { offer, labels, alternatives });
            self.list(out, plan, offers)
        })
    }

    fn object<T: Fields>(&mut self, out: &mut Vec<u8>, plan: &Plan<'_>, item: &T) -> ServerResult<()> {
        write_separated(out, b'{', b'}', &plan.fields, |out, planned| {
            out.extend_from_slice(&planned.key);
            if planned.field.node.name.node == "__typename" {
                write_serde(out, T::TYPE);
                Ok(())
            } else {
                item.write(self, out, planned)
            }
        })
    }

    fn list<T: Fields>(
        &mut self,
        out: &mut Vec<u8>,
        plan: &Plan<'_>,
        items: impl Iterator<Item = T>,
    ) -> ServerResult<()> {
        write_separated(out, b'[', b']', items, |out, item| self.object(out, plan, &item))
    }

    fn carrier(&mut self, out: &mut Vec<u8>, plan: &Plan<'_>, code: &str) -> ServerResult<()> {
        let name = match ReferenceData::embedded().airline(code) {
            Some(airline) => Some(airline.name.as_str()),
            None => match self.named.get(code) {
                Some(name) => name.as_deref(),
                None => {
                    if !self.missing.iter().any(|m| m == code) {
                        self.missing.push(code.to_owned());
                    }
                    None
                }
            },
        };
        self.object(out, plan, &CarrierFields { code, name })
    }
}

/// A GraphQL object type of the offer subtree, its fields written in place.
trait Fields {
    /// Its GraphQL name.
    const TYPE: &'static str;

    /// Writes the value of `field` (not `__typename`).
    fn write(&self, walk: &mut Walk<'_>, out: &mut Vec<u8>, field: &Planned<'_>) -> ServerResult<()>;
}

fn unknown_field(field: &Positioned<Field>, on: &str) -> ServerError {
    // Validation refuses these before execution; kept as an error, not a panic.
    ServerError::new(format!(r#"Cannot query field "{}" on type "{on}"."#, field.node.name.node), Some(field.pos))
}

fn text(out: &mut Vec<u8>, s: &str) {
    write_serde(out, s);
}

fn optional_text(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => text(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn int(out: &mut Vec<u8>, n: usize) {
    write_serde(out, &i32::try_from(n).unwrap_or(i32::MAX));
}

fn date_time(out: &mut Vec<u8>, at: DateTime) {
    write_value(out, &at.to_value());
}

/// `FlightOffer`, as a ranked page holds it.
struct RankedOffer<'p> {
    offer: &'p Offer,
    labels: &'p [OfferLabel],
    alternatives: &'p [Alternative],
}

impl Fields for RankedOffer<'_> {
    const TYPE: &'static str = "FlightOffer";

    fn write(&self, walk: &mut Walk<'_>, out: &mut Vec<u8>, field: &Planned<'_>) -> ServerResult<()> {
        let below = &field.below;
        match field.field.node.name.node.as_str() {
            "id" => text(out, &self.offer.id),
            "provider" => text(out, &self.offer.provider),
            "price" => walk.object(out, below, &MoneyFields(&self.offer.price))?,
            "labels" => write_list(out, self.labels, |out, label| write_value(out, &enum_value(*label))),
            "seatsAvailable" => match self.offer.seats_available {
                Some(seats) => write_serde(out, &i32::from(seats)),
                None => out.extend_from_slice(b"null"),
            },
            "expiresAt" => date_time(out, DateTime::from(self.offer.expires_at)),
            "alternatives" => walk.list(out, below, self.alternatives.iter().map(AlternativeFields))?,
            "itineraries" => walk.list(out, below, self.offer.itineraries.iter().map(ItineraryFields))?,
            _ => return Err(unknown_field(field.field, Self::TYPE)),
        }
        Ok(())
    }
}

struct MoneyFields<'p>(&'p Money);

impl Fields for MoneyFields<'_> {
    const TYPE: &'static str = "Money";

    fn write(&self, _: &mut Walk<'_>, out: &mut Vec<u8>, field: &Planned<'_>) -> ServerResult<()> {
        match field.field.node.name.node.as_str() {
            "amount" => text(out, &format!("{:.2}", self.0.amount)),
            "currency" => text(out, &self.0.currency),
            _ => return Err(unknown_field(field.field, Self::TYPE)),
        }
        Ok(())
    }
}

struct AlternativeFields<'p>(&'p Alternative);

impl Fields for AlternativeFields<'_> {
    const TYPE: &'static str = "OfferAlternative";

    fn write(&self, walk: &mut Walk<'_>, out: &mut Vec<u8>, field: &Planned<'_>) -> ServerResult<()> {
        match field.field.node.name.node.as_str() {
            "provider" => text(out, &self.0.provider),
            "offerId" => text(out, &self.0.offer_id),
            "price" => walk.object(out, &field.below, &MoneyFields(&self.0.price))?,
            _ => return Err(unknown_field(field.field, Self::TYPE)),
        }
        Ok(())
    }
}

struct ItineraryFields<'p>(&'p Itinerary);

impl Fields for ItineraryFields<'_> {
    const TYPE: &'static str = "Itinerary";

    fn write(&self, walk: &mut Walk<'_>, out: &mut Vec<u8>, field: &Planned<'_>) -> ServerResult<()> {
        match field.field.node.name.node.as_str() {
            "duration" => text(out, &iso_duration(self.0.duration_minutes)),
            "stops" => int(out, self.0.stops()),
            "segments" => walk.list(out, &field.below, self.0.segments.iter().map(SegmentFields))?,
            _ => return Err(unknown_field(field.field, Self::TYPE)),
        }
        Ok(())
    }
}

struct SegmentFields<'p>(&'p Segment);

impl Fields for SegmentFields<'_> {
    const TYPE: &'static str = "Segment";

    fn write(&self, walk: &mut Walk<'_>, out: &mut Vec<u8>, field: &Planned<'_>) -> ServerResult<()> {
        let below = &field.below;
        match field.field.node.name.node.as_str() {
            "flightNumber" => text(out, &self.0.flight_number),
            "carrier" => walk.carrier(out, below, &self.0.carrier)?,
            "operatingCarrier" => match self.0.operating_carrier.as_deref() {
                Some(code) => walk.carrier(out, below, code)?,
                None => out.extend_from_slice(b"null"),
            },
            "departure" => walk.object(out, below, &EndpointFields(&self.0.departure))?,
            "arrival" => walk.object(out, below, &EndpointFields(&self.0.arrival))?,
            "duration" => text(out, &iso_duration(self.0.duration_minutes)),
            "aircraft" => optional_text(out, self.0.aircraft.as_deref()),
            _ => return Err(unknown_field(field.field, Self::TYPE)),
        }
        Ok(())
    }
}

struct CarrierFields<'p> {
    code: &'p str,
    name: Option<&'p str>,
}

impl Fields for CarrierFields<'_> {
    const TYPE: &'static str = "Carrier";

    fn write(&self, _: &mut Walk<'_>, out: &mut Vec<u8>, field: &Planned<'_>) -> ServerResult<()> {
        match field.field.node.name.node.as_str() {
            "code" => text(out, self.code),
            "name" => optional_text(out, self.name),
            _ => return Err(unknown_field(field.field, Self::TYPE)),
        }
        Ok(())
    }
}

struct EndpointFields<'p>(&'p SegmentEnd);

impl Fields for EndpointFields<'_> {
    const TYPE: &'static str = "FlightEndpoint";

    fn write(&self, walk: &mut Walk<'_>, out: &mut Vec<u8>, field: &Planned<'_>) -> ServerResult<()> {
        match field.field.node.name.node.as_str() {
            "at" => date_time(out, local_time(self.0)),
            "terminal" => optional_text(out, self.0.terminal.as_deref()),
            "airport" => {
                let airport = match ReferenceData::embedded().airport(&self.0.airport) {
                    Some(known) => AirportFields::Known(known),
                    None => AirportFields::Unknown(&self.0.airport),
                };
                walk.object(out, &field.below, &airport)?;
            }
            _ => return Err(unknown_field(field.field, Self::TYPE)),
        }
        Ok(())
    }
}

/// `Airport`: from the embedded dataset, or an unknown code standing for itself in UTC
/// (as [`super::resolvers::AirportObject::of`]).
enum AirportFields<'p> {
    Known(&'p Airport),
    Unknown(&'p str),
}

impl Fields for AirportFields<'_> {
    const TYPE: &'static str = "Airport";

    fn write(&self, _: &mut Walk<'_>, out: &mut Vec<u8>, field: &Planned<'_>) -> ServerResult<()> {
        let name = field.field.node.name.node.as_str();
        let value = match self {
            Self::Known(airport) => match name {
                "code" => airport.code.as_str(),
                "name" => &airport.name,
                "cityName" => &airport.city_name,
                "cityCode" => &airport.city_code,
                "countryCode" => &airport.country,
                "timeZone" => airport.time_zone.name(),
                _ => return Err(unknown_field(field.field, Self::TYPE)),
            },
            Self::Unknown(code) => match name {
                "code" | "name" | "cityCode" => *code,
                "cityName" | "countryCode" => "",
                "timeZone" => "UTC",
                _ => return Err(unknown_field(field.field, Self::TYPE)),
            },
        };
        text(out, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, Value};
    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    use super::*;
    use crate::flights::model::ProviderOffer;
    use crate::flights::rendered::{OfferPage, RenderedPages};
    use crate::flights::resolvers::FlightOfferObject;

    /// The same page two ways: `walked` through [`resolve_page`], `fields`
    /// through the `#[Object]` resolvers.
    struct Both(Arc<RankedOffers>);

    #[Object]
    impl Both {
        async fn walked(&self) -> OfferPage {
            OfferPage::new(self.0.clone(), Arc::new(RenderedPages::default()))
        }
        async fn fields(&self) -> Vec<FlightOfferObject> {
            self.0
                .offers
                .iter()
                .map(|(offer, labels, alternatives)| {
                    FlightOfferObject::ranked(offer.clone(), labels.clone(), alternatives.clone())
                })
                .collect()
        }
    }

    fn at(day: u32, hour: u32, minute: u32) -> chrono::NaiveDateTime {
        NaiveDate::from_ymd_opt(2027, 1, day).and_then(|d| d.and_hms_opt(hour, minute, 0)).expect("time")
    }

    /// A carrier code no airline dataset has (IATA codes have two characters).
    const UNNAMED: &str = "ZZZ";

    fn segment(carrier: &str, number: u32, from: &str, to: &str, hour: u32) -> Segment {
        Segment {
            carrier: carrier.into(),
            flight_number: format!("{carrier}{number}"),
            operating_carrier: None,
            departure: SegmentEnd { airport: from.into(), terminal: None, at: at(10, hour, 5) },
            arrival: SegmentEnd { airport: to.into(), terminal: Some("2".into()), at: at(10, hour + 2, 40) },
            duration_minutes: 95,
            aircraft: Some("320".into()),
        }
    }

    /// Two offers covering every shape a field can take: labels and none,
    /// alternatives and none, seats and none, a return itinerary, a
    /// connection, an operating carrier (known and unnamed), an airport the
    /// dataset lacks, optional terminals and aircraft.
    fn page() -> RankedOffers {
        let mut connection = segment("TP", 1350, "LIS", "MAD", 7);
        connection.operating_carrier = Some("IB".into());
        let mut onward = segment(UNNAMED, 9, "MAD", "QQX", 12);
        onward.operating_carrier = Some(UNNAMED.into());
        onward.aircraft = None;
        onward.arrival.terminal = None;
        let first = Offer {
            id: "amadeus~1".into(),
            provider: "amadeus".into(),
            price: Money::new(Decimal::new(34_220, 2), "EUR"),
            seats_available: Some(4),
            expires_at: chrono::DateTime::from_timestamp(1_800_000_000, 123_456_789).expect("instant"),
            itineraries: vec![
                Itinerary { duration_minutes: 400, segments: vec![connection, onward] },
                Itinerary { duration_minutes: 95, segments: vec![segment("IB", 3107, "MAD", "LIS", 18)] },
            ],
            provider_offer: ProviderOffer::default(),
            passengers: Vec::new(),
        };
        let second = Offer {
            id: "duffel~2".into(),
            provider: "duffel".into(),
            price: Money::new(Decimal::new(50_000, 2), "USD"),
            seats_available: None,
            itineraries: vec![Itinerary { duration_minutes: 95, segments: vec![segment("TP", 1, "LHR", "LIS", 9)] }],
            ..first.clone()
        };
        let alternative = Alternative {
            provider: "duffel".into(),
            offer_id: "duffel~3".into(),
            price: Money::new(Decimal::new(35_000, 2), "EUR"),
        };
        RankedOffers {
            offers: vec![
                (first, vec![OfferLabel::Cheapest, OfferLabel::Fastest], vec![alternative]),
                (second, Vec::new(), Vec::new()),
            ],
            total_count: 2,
        }
    }

    fn schema(page: RankedOffers) -> Schema<Both, EmptyMutation, EmptySubscription> {
        Schema::build(Both(Arc::new(page)), EmptyMutation, EmptySubscription).finish()
    }

    /// Every field under `FlightOffer`, read from the SDL, with `__typename` at each level.
    fn every_field(sdl: &str) -> String {
        let document = async_graphql::parser::parse_schema(sdl).expect("the SDL parses");
        let objects: HashMap<String, Vec<(String, String)>> = document
            .definitions
            .iter()
            .filter_map(|definition| match definition {
                TypeSystemDefinition::Type(ty) => match &ty.node.kind {
                    TypeKind::Object(object) => Some((
                        ty.node.name.node.to_string(),
                        object
                            .fields
                            .iter()
                            .map(|f| {
                                let mut base = &f.node.ty.node.base;
                                while let BaseType::List(inner) = base {
                                    base = &inner.base;
                                }
                                let BaseType::Named(named) = base else { unreachable!("unwrapped above") };
                                (f.node.name.node.to_string(), named.to_string())
                            })
                            .collect(),
                    )),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        fn selection(objects: &HashMap<String, Vec<(String, String)>>, ty: &str) -> String {
            let fields: Vec<String> = objects[ty]
                .iter()
                .map(|(name, of)| match objects.contains_key(of) {
                    true => format!("{name} {}", selection(objects, of)),
                    false => name.clone(),
                })
                .collect();
            format!("{{ __typename {} }}", fields.join(" "))
        }
        selection(&objects, "FlightOffer")
    }

    /// The response as the server writes it.
    fn json(value: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, value);
        String::from_utf8(out).expect("UTF-8")
    }

    /// `walked` and `fields` of `document`, compared as the JSON a client
    /// reads (key order included), and the walked page parsed.
    async fn both_ways(schema: &Schema<Both, EmptyMutation, EmptySubscription>, document: &str) -> serde_json::Value {
        let response = schema.execute(document).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let Value::Object(mut data) = response.data else { panic!("no data: {:?}", response.data) };
        let walked = json(&data.shift_remove("walked").expect("walked"));
        let fields = json(&data.shift_remove("fields").expect("fields"));
        assert_eq!(walked, fields, "{document}");
        serde_json::from_str(&walked).expect("valid JSON")
    }

    #[tokio::test]
    async fn the_walk_resolves_every_field_of_the_subtree_as_the_field_resolvers_do() {
        assert!(ReferenceData::embedded().airline(UNNAMED).is_none());
        let schema = schema(page());
        let all = every_field(&schema.sdl());
        for field in ["seatsAvailable", "operatingCarrier", "timeZone", "offerId", "labels", "countryCode", "aircraft"]
        {
            assert!(all.contains(field), "the generated selection reaches {field}: {all}");
        }
        let value = both_ways(&schema, &format!("{{ walked {all} fields {all} }}")).await;
        assert_eq!(value.as_array().map(Vec::len), Some(2));

        // Aliases, a repeated key merged, named and inline fragments (with and
        // without a type condition), `@skip` and `@include`.
        let shaped = "{ walked { ...parts } fields { ...parts } }
            fragment parts on FlightOffer {
              cost: price { amount } price { currency } price { amount }
              ... on FlightOffer { id kind: __typename }
              ... { provider }
              seatsAvailable @include(if: false)
              labels @skip(if: true)
              itineraries { segments { flightNumber } }
              itineraries { stops segments { carrier { code name } departure { ...end } } }
            }
            fragment end on FlightEndpoint { at airport { code timeZone } }";
        let value = both_ways(&schema, shaped).await;
        let first = value[0].as_object().expect("an object");
        let keys: Vec<&str> = first.keys().map(String::as_str).collect();
        assert_eq!(keys, ["cost", "price", "id", "kind", "provider", "itineraries"]);
        assert_eq!(first["itineraries"][0]["segments"][0].as_object().map(|s| s.len()), Some(3), "{value}");
    }

    #[tokio::test]
    async fn a_page_whose_key_is_selected_twice_is_merged_as_async_graphql_merges_values() {
        let schema = schema(page());
        // The page's own field twice under one key, and twice through fragments.
        let twice = "{ walked { id } walked { price { amount } } fields { id } fields { price { amount } } }";
        let value = both_ways(&schema, twice).await;
        assert_eq!(value[1].as_object().map(|o| o.len()), Some(2), "{value}");
        let spread = "{ ...a ...b } fragment a on Both { walked { provider } fields { provider } }
            fragment b on Both { walked { labels } fields { labels } }";
        let value = both_ways(&schema, spread).await;
        assert_eq!(value[0].as_object().map(|o| o.len()), Some(2), "{value}");
        // Under distinct keys each is its own page, and a marker.
        let response = schema.execute("{ walked { id } other: walked { provider } }").await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let Value::Object(data) = &response.data else { panic!("no data") };
        assert!(data.values().all(|page| matches!(page, Value::Binary(_))), "{:?}", response.data);
        let written: serde_json::Value = serde_json::from_str(&json(&response.data)).expect("valid JSON");
        assert_eq!(written["other"][1], serde_json::json!({ "provider": "duffel" }));
    }

    #[tokio::test]
    async fn carriers_the_dataset_lacks_are_named_in_one_batch_and_only_when_selected() {
        let batches = Arc::new(AtomicU64::new(0));
        let loader = ReferenceLoader { airline_lookup: None, batches: batches.clone() };
        let schema = Schema::build(Both(Arc::new(page())), EmptyMutation, EmptySubscription)
            .data(DataLoader::new(loader, tokio::spawn))
            .finish();
        let carriers = "{ walked { itineraries { segments { carrier { code name } operatingCarrier { name } } } } }";
        let response = schema.execute(carriers).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(batches.load(Ordering::Relaxed), 1, "one batch for the page's unnamed carriers");
        let text = json(&response.data);
        assert!(text.contains(&format!(r#""code":"{UNNAMED}","name":null"#)), "{text}");
        assert!(text.contains(r#""name":"Iberia"#), "{text}");

        let response = schema.execute("{ walked { id itineraries { segments { flightNumber } } } }").await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(batches.load(Ordering::Relaxed), 1, "no carrier selected, no batch");
    }
}
