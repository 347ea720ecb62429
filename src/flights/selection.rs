//! A page of offers resolved by walking its selection set: the value of
//! `searchFlights { offers { … } }` built in one synchronous pass.
//!
//! async-graphql resolves every field of an object through its own boxed
//! future, collected in a `FuturesUnordered` and merged into a map as they
//! finish. A 20-offer page with carriers and airports is ≈ 1,200 fields, and
//! resolving them that way was 22 % of the server's profile in a round of
//! 1,000 uncached searches, most of it the machinery rather than the values
//! (11 % walked). Nothing under `offers` waits on anything except the
//! names of carriers the embedded dataset lacks, so [`resolve_page`] walks
//! the selection set itself: aliases, the same response key selected twice
//! (merged as async-graphql merges it), fragment spreads and inline
//! fragments with their type conditions, and `__typename`. `@skip` and
//! `@include` are applied by async-graphql before execution starts, and the
//! schema declares no other executable directive. The `#[Object]`
//! resolvers in [`super::resolvers`] still define these types (SDL,
//! introspection, validation) and resolve offers outside a page
//! (`flightOffer`, progress subscriptions); the test at the bottom resolves
//! every field of the subtree, read from the SDL, both ways and compares,
//! so a field added to one and not the other fails it.
//!
//! A carrier the dataset lacks is noted during the walk; the page's noted
//! carriers are then named in one batch through the request's
//! [`ReferenceLoader`] (as the field resolvers do) and the page is walked
//! again with the names. Every carrier the sandbox flies is in the dataset,
//! so its searches never need the second walk.

use std::collections::HashMap;

use async_graphql::dataloader::DataLoader;
use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::Entry;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::resolver_utils::enum_value;
use async_graphql::{ContextSelectionSet, Name, Positioned, ScalarType as _, ServerError, ServerResult, Value};

use super::aggregator::{Alternative, RankedOffers};
use super::model::{Itinerary, Money, Offer, OfferLabel, Segment, SegmentEnd, iso_duration};
use super::resolvers::local_time;
use super::{CarrierCode, ReferenceLoader};
use crate::graphql::scalars::DateTime;
use crate::reference::{Airport, ReferenceData};

/// The `offers` field's value for `page`: what `Vec<FlightOfferObject>`
/// resolves to, without a future per field.
pub async fn resolve_page(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    page: &RankedOffers,
) -> ServerResult<Value> {
    let unnamed = HashMap::new();
    let mut walk = Walk::new(ctx, &unnamed);
    let value = walk.page(field, page)?;
    if walk.missing.is_empty() {
        return Ok(value);
    }
    // Without a loader the dataset is all there is: the walk stands.
    let Some(loader) = ctx.data_opt::<DataLoader<ReferenceLoader>>() else {
        return Ok(value);
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
    Walk::new(ctx, &named).page(field, page)
}

/// One pass over a page's selection set.
struct Walk<'c, 'a> {
    ctx: &'c ContextSelectionSet<'a>,
    /// Carriers the dataset lacks, as the reference loader named them.
    named: &'c HashMap<String, Option<String>>,
    /// Carriers the dataset lacks that `named` has no entry for yet.
    missing: Vec<String>,
}

impl<'c, 'a> Walk<'c, 'a> {
    fn new(ctx: &'c ContextSelectionSet<'a>, named: &'c HashMap<String, Option<String>>) -> Self {
        Self { ctx, named, missing: Vec::new() }
    }

    fn page(&mut self, field: &Positioned<Field>, page: &RankedOffers) -> ServerResult<Value> {
        let offers =
            page.offers.iter().map(|(offer, labels, alternatives)| RankedOffer { offer, labels, alternatives });
        self.list(field, offers)
    }

    fn object<T: Fields>(&mut self, set: &SelectionSet, item: &T) -> ServerResult<Value> {
        let mut map = IndexMap::with_capacity(set.items.len());
        self.collect(set, item, &mut map)?;
        Ok(Value::Object(map))
    }

    fn list<T: Fields>(&mut self, field: &Positioned<Field>, items: impl Iterator<Item = T>) -> ServerResult<Value> {
        let set = &field.node.selection_set.node;
        items.map(|item| self.object(set, &item)).collect::<ServerResult<Vec<_>>>().map(Value::List)
    }

    /// `set`'s fields of `item` into `map`, fragments that apply to `T` included.
    fn collect<T: Fields>(
        &mut self,
        set: &SelectionSet,
        item: &T,
        map: &mut IndexMap<Name, Value>,
    ) -> ServerResult<()> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let key = field.node.response_key().node.clone();
                    let value = if field.node.name.node == "__typename" {
                        Value::String(T::TYPE.to_owned())
                    } else {
                        item.field(self, field)?
                    };
                    merge(map, key, value);
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    let fragment =
                        self.ctx.query_env.fragments.get(name).ok_or_else(|| {
                            ServerError::new(format!(r#"Unknown fragment "{name}"."#), Some(spread.pos))
                        })?;
                    if self.applies::<T>(Some(fragment.node.type_condition.node.on.node.as_str())) {
                        self.collect(&fragment.node.selection_set.node, item, map)?;
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let condition = fragment.node.type_condition.as_ref().map(|c| c.node.on.node.as_str());
                    if self.applies::<T>(condition) {
                        self.collect(&fragment.node.selection_set.node, item, map)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a fragment on `condition` applies to a `T`: its own type or an interface it implements.
    fn applies<T: Fields>(&self, condition: Option<&str>) -> bool {
        condition.is_none_or(|condition| {
            condition == T::TYPE
                || self
                    .ctx
                    .schema_env
                    .registry
                    .implements
                    .get(T::TYPE)
                    .is_some_and(|interfaces| interfaces.contains(condition))
        })
    }

    fn carrier(&mut self, field: &Positioned<Field>, code: &str) -> ServerResult<Value> {
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
        self.object(&field.node.selection_set.node, &CarrierFields { code, name })
    }
}

/// Same response key twice: objects merge field by field, lists item by
/// item, anything else keeps the first (async-graphql's rule; validation
/// has already refused keys that would conflict).
fn merge(map: &mut IndexMap<Name, Value>, key: Name, value: Value) {
    // One hash per field: the entry, not a lookup and then an insert.
    match map.entry(key) {
        Entry::Vacant(vacant) => {
            vacant.insert(value);
        }
        Entry::Occupied(mut kept) => match (kept.get_mut(), value) {
            (Value::Object(kept), Value::Object(more)) => merge_objects(kept, more),
            (Value::List(kept), Value::List(more)) => {
                for (kept, more) in kept.iter_mut().zip(more) {
                    if let (Value::Object(kept), Value::Object(more)) = (kept, more) {
                        merge_objects(kept, more);
                    }
                }
            }
            _ => {}
        },
    }
}

fn merge_objects(kept: &mut IndexMap<Name, Value>, more: IndexMap<Name, Value>) {
    for (key, value) in more {
        merge(kept, key, value);
    }
}

/// A GraphQL object type of the offer subtree, its fields resolved in place.
trait Fields {
    /// Its GraphQL name.
    const TYPE: &'static str;

    /// The value of `field` (not `__typename`).
    fn field(&self, walk: &mut Walk<'_, '_>, field: &Positioned<Field>) -> ServerResult<Value>;
}

fn unknown_field(field: &Positioned<Field>, on: &str) -> ServerError {
    // Validation refuses these before execution; kept as an error, not a panic.
    ServerError::new(format!(r#"Cannot query field "{}" on type "{on}"."#, field.node.name.node), Some(field.pos))
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn optional_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

fn int(n: usize) -> Value {
    Value::from(i32::try_from(n).unwrap_or(i32::MAX))
}

/// `FlightOffer`, as a ranked page holds it.
struct RankedOffer<'p> {
    offer: &'p Offer,
    labels: &'p [OfferLabel],
    alternatives: &'p [Alternative],
}

impl Fields for RankedOffer<'_> {
    const TYPE: &'static str = "FlightOffer";

    fn field(&self, walk: &mut Walk<'_, '_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let set = &field.node.selection_set.node;
        Ok(match field.node.name.node.as_str() {
            "id" => text(&self.offer.id),
            "provider" => text(&self.offer.provider),
            "price" => walk.object(set, &MoneyFields(&self.offer.price))?,
            "labels" => Value::List(self.labels.iter().map(|label| enum_value(*label)).collect()),
            "seatsAvailable" => self.offer.seats_available.map_or(Value::Null, |seats| Value::from(i32::from(seats))),
            "expiresAt" => DateTime::from(self.offer.expires_at).to_value(),
            "alternatives" => walk.list(field, self.alternatives.iter().map(AlternativeFields))?,
            "itineraries" => walk.list(field, self.offer.itineraries.iter().map(ItineraryFields))?,
            _ => return Err(unknown_field(field, Self::TYPE)),
        })
    }
}

struct MoneyFields<'p>(&'p Money);

impl Fields for MoneyFields<'_> {
    const TYPE: &'static str = "Money";

    fn field(&self, _: &mut Walk<'_, '_>, field: &Positioned<Field>) -> ServerResult<Value> {
        Ok(match field.node.name.node.as_str() {
            "amount" => Value::String(format!("{:.2}", self.0.amount)),
            "currency" => text(&self.0.currency),
            _ => return Err(unknown_field(field, Self::TYPE)),
        })
    }
}

struct AlternativeFields<'p>(&'p Alternative);

impl Fields for AlternativeFields<'_> {
    const TYPE: &'static str = "OfferAlternative";

    fn field(&self, walk: &mut Walk<'_, '_>, field: &Positioned<Field>) -> ServerResult<Value> {
        Ok(match field.node.name.node.as_str() {
            "provider" => text(&self.0.provider),
            "offerId" => text(&self.0.offer_id),
            "price" => walk.object(&field.node.selection_set.node, &MoneyFields(&self.0.price))?,
            _ => return Err(unknown_field(field, Self::TYPE)),
        })
    }
}

struct ItineraryFields<'p>(&'p Itinerary);

impl Fields for ItineraryFields<'_> {
    const TYPE: &'static str = "Itinerary";

    fn field(&self, walk: &mut Walk<'_, '_>, field: &Positioned<Field>) -> ServerResult<Value> {
        Ok(match field.node.name.node.as_str() {
            "duration" => Value::String(iso_duration(self.0.duration_minutes)),
            "stops" => int(self.0.stops()),
            "segments" => walk.list(field, self.0.segments.iter().map(SegmentFields))?,
            _ => return Err(unknown_field(field, Self::TYPE)),
        })
    }
}

struct SegmentFields<'p>(&'p Segment);

impl Fields for SegmentFields<'_> {
    const TYPE: &'static str = "Segment";

    fn field(&self, walk: &mut Walk<'_, '_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let set = &field.node.selection_set.node;
        Ok(match field.node.name.node.as_str() {
            "flightNumber" => text(&self.0.flight_number),
            "carrier" => walk.carrier(field, &self.0.carrier)?,
            "operatingCarrier" => match self.0.operating_carrier.as_deref() {
                Some(code) => walk.carrier(field, code)?,
                None => Value::Null,
            },
            "departure" => walk.object(set, &EndpointFields(&self.0.departure))?,
            "arrival" => walk.object(set, &EndpointFields(&self.0.arrival))?,
            "duration" => Value::String(iso_duration(self.0.duration_minutes)),
            "aircraft" => optional_text(self.0.aircraft.as_deref()),
            _ => return Err(unknown_field(field, Self::TYPE)),
        })
    }
}

struct CarrierFields<'p> {
    code: &'p str,
    name: Option<&'p str>,
}

impl Fields for CarrierFields<'_> {
    const TYPE: &'static str = "Carrier";

    fn field(&self, _: &mut Walk<'_, '_>, field: &Positioned<Field>) -> ServerResult<Value> {
        Ok(match field.node.name.node.as_str() {
            "code" => text(self.code),
            "name" => optional_text(self.name),
            _ => return Err(unknown_field(field, Self::TYPE)),
        })
    }
}

struct EndpointFields<'p>(&'p SegmentEnd);

impl Fields for EndpointFields<'_> {
    const TYPE: &'static str = "FlightEndpoint";

    fn field(&self, walk: &mut Walk<'_, '_>, field: &Positioned<Field>) -> ServerResult<Value> {
        Ok(match field.node.name.node.as_str() {
            "at" => local_time(self.0).to_value(),
            "terminal" => optional_text(self.0.terminal.as_deref()),
            "airport" => {
                let airport = match ReferenceData::embedded().airport(&self.0.airport) {
                    Some(known) => AirportFields::Known(known),
                    None => AirportFields::Unknown(&self.0.airport),
                };
                walk.object(&field.node.selection_set.node, &airport)?
            }
            _ => return Err(unknown_field(field, Self::TYPE)),
        })
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

    fn field(&self, _: &mut Walk<'_, '_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let name = field.node.name.node.as_str();
        Ok(match self {
            Self::Known(airport) => match name {
                "code" => text(&airport.code),
                "name" => text(&airport.name),
                "cityName" => text(&airport.city_name),
                "cityCode" => text(&airport.city_code),
                "countryCode" => text(&airport.country),
                "timeZone" => text(airport.time_zone.name()),
                _ => return Err(unknown_field(field, Self::TYPE)),
            },
            Self::Unknown(code) => match name {
                "code" | "name" | "cityCode" => text(code),
                "cityName" | "countryCode" => text(""),
                "timeZone" => text("UTC"),
                _ => return Err(unknown_field(field, Self::TYPE)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
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

    async fn both_ways(schema: &Schema<Both, EmptyMutation, EmptySubscription>, document: &str) -> Value {
        let response = schema.execute(document).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let Value::Object(mut data) = response.data else { panic!("no data: {:?}", response.data) };
        let walked = data.shift_remove("walked").expect("walked");
        let fields = data.shift_remove("fields").expect("fields");
        assert_eq!(walked, fields, "{document}");
        walked
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
        let Value::List(offers) = value else { panic!("a list") };
        assert_eq!(offers.len(), 2);

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
        let Value::List(offers) = value else { panic!("a list") };
        let Value::Object(first) = &offers[0] else { panic!("an object") };
        let keys: Vec<&str> = first.keys().map(Name::as_str).collect();
        assert_eq!(keys, ["cost", "price", "id", "kind", "provider", "itineraries"]);
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
        let text = response.data.to_string();
        assert!(text.contains(&format!(r#"code: "{UNNAMED}", name: null"#)), "{text}");
        assert!(text.contains(r#"name: "Iberia"#), "{text}");

        let response = schema.execute("{ walked { id itineraries { segments { flightNumber } } } }").await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(batches.load(Ordering::Relaxed), 1, "no carrier selected, no batch");
    }
}
