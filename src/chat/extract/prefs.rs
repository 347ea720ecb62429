//! Search preferences stated in words: travel class, direct flights only (or
//! stops are fine), a sort preference (cheapest, fastest, earliest) and the
//! part of the day to leave.

use std::sync::LazyLock;

use super::phrases::{Phrases, mark};
use super::text::Token;
use crate::flights::model::{Cabin, OfferSort, TimeOfDay};

static CABINS: LazyLock<Phrases<Cabin>> = LazyLock::new(|| {
    use Cabin::*;
    Phrases::new(&[
        ("economy", Economy),
        ("economy class", Economy),
        ("eco", Economy),
        ("coach", Economy),
        ("clase turista", Economy),
        ("turista", Economy),
        ("clase economica", Economy),
        ("economica", Economy),
        ("classe economique", Economy),
        ("classe eco", Economy),
        ("economique", Economy),
        ("economy klasse", Economy),
        ("economyklasse", Economy),
        ("classe economica", Economy),
        ("classe economy", Economy),
        ("classe turistica", Economy),
        ("classe economica", Economy),
        ("premium economy", PremiumEconomy),
        ("premium eco", PremiumEconomy),
        ("premium", PremiumEconomy),
        ("turista premium", PremiumEconomy),
        ("premium economy klasse", PremiumEconomy),
        ("economica premium", PremiumEconomy),
        ("classe premium", PremiumEconomy),
        ("business", Business),
        ("business class", Business),
        ("biz class", Business),
        ("clase business", Business),
        ("clase ejecutiva", Business),
        ("ejecutiva", Business),
        ("classe affaires", Business),
        ("affaires", Business),
        ("classe business", Business),
        ("businessklasse", Business),
        ("business klasse", Business),
        ("executiva", Business),
        ("classe executiva", Business),
        ("first class", First),
        ("in first", First),
        ("primera clase", First),
        ("en primera", First),
        ("premiere classe", First),
        ("en premiere", First),
        ("erste klasse", First),
        ("erster klasse", First),
        ("prima classe", First),
        ("in prima", First),
        ("primeira classe", First),
        ("de primeira", First),
    ])
});

static NON_STOP: LazyLock<Phrases<bool>> = LazyLock::new(|| {
    Phrases::new(&[
        ("direct", true),
        ("directs", true),
        ("direct flight", true),
        ("direct flights", true),
        ("direct only", true),
        ("only direct", true),
        ("nonstop", true),
        ("non stop", true),
        ("no stops", true),
        ("no layovers", true),
        ("without stops", true),
        ("no connections", true),
        ("directo", true),
        ("directos", true),
        ("directa", true),
        ("sin escalas", true),
        ("sin escala", true),
        ("vuelo directo", true),
        ("sans escale", true),
        ("sans escales", true),
        ("vol direct", true),
        ("direkt", true),
        ("direkte", true),
        ("direktflug", true),
        ("direktfluge", true),
        ("ohne umsteigen", true),
        ("ohne zwischenstopp", true),
        ("ohne stopp", true),
        ("nonstop flug", true),
        ("senza scalo", true),
        ("senza scali", true),
        ("diretto", true),
        ("diretti", true),
        ("volo diretto", true),
        ("sem escalas", true),
        ("sem escala", true),
        ("direto", true),
        ("diretos", true),
        ("voo direto", true),
        ("stops are fine", false),
        ("stops are ok", false),
        ("stops are okay", false),
        ("stops ok", false),
        ("stops fine", false),
        ("stopovers are fine", false),
        ("layovers are fine", false),
        ("layovers ok", false),
        ("connections are fine", false),
        ("connections ok", false),
        ("with stops", false),
        ("i don t mind stops", false),
        ("don t mind stops", false),
        ("dont mind stops", false),
        ("doesn t have to be direct", false),
        ("not necessarily direct", false),
        ("any stops", false),
        ("con escalas", false),
        ("escalas estan bien", false),
        ("las escalas estan bien", false),
        ("escalas no importan", false),
        ("no importan las escalas", false),
        ("me da igual las escalas", false),
        ("avec escale", false),
        ("avec escales", false),
        ("escales ok", false),
        ("les escales ca va", false),
        ("escales acceptees", false),
        ("umsteigen ist ok", false),
        ("umsteigen ist okay", false),
        ("umsteigen ok", false),
        ("mit umsteigen", false),
        ("umsteigen egal", false),
        ("con scalo", false),
        ("con scali", false),
        ("scali vanno bene", false),
        ("gli scali vanno bene", false),
        ("com escalas", false),
        ("escalas tudo bem", false),
        ("escala tudo bem", false),
        ("escalas ok", false),
        ("pode ter escala", false),
    ])
});

static SORTS: LazyLock<Phrases<OfferSort>> = LazyLock::new(|| {
    use OfferSort::*;
    Phrases::new(&[
        ("cheapest", Price),
        ("cheapest one", Price),
        ("lowest price", Price),
        ("best price", Price),
        ("cheap", Price),
        ("cheaper", Price),
        ("el mas barato", Price),
        ("la mas barata", Price),
        ("mas barato", Price),
        ("mas barata", Price),
        ("mas baratos", Price),
        ("barato", Price),
        ("baratos", Price),
        ("economicos", Price),
        ("le moins cher", Price),
        ("la moins chere", Price),
        ("moins cher", Price),
        ("moins chere", Price),
        ("pas cher", Price),
        ("pas chers", Price),
        ("meilleur prix", Price),
        ("am gunstigsten", Price),
        ("am billigsten", Price),
        ("gunstigste", Price),
        ("gunstigsten", Price),
        ("gunstig", Price),
        ("gunstige", Price),
        ("guenstigste", Price),
        ("billigste", Price),
        ("billigsten", Price),
        ("billig", Price),
        ("il piu economico", Price),
        ("piu economico", Price),
        ("piu economica", Price),
        ("economico", Price),
        ("economici", Price),
        ("il piu conveniente", Price),
        ("piu conveniente", Price),
        ("o mais barato", Price),
        ("a mais barata", Price),
        ("mais barato", Price),
        ("mais barata", Price),
        ("mais baratos", Price),
        ("fastest", Duration),
        ("quickest", Duration),
        ("shortest", Duration),
        ("fastest one", Duration),
        ("el mas rapido", Duration),
        ("mas rapido", Duration),
        ("la mas rapida", Duration),
        ("mas corto", Duration),
        ("le plus rapide", Duration),
        ("plus rapide", Duration),
        ("le plus court", Duration),
        ("am schnellsten", Duration),
        ("schnellste", Duration),
        ("schnellsten", Duration),
        ("kurzeste", Duration),
        ("il piu veloce", Duration),
        ("piu veloce", Duration),
        ("piu rapido", Duration),
        ("il piu rapido", Duration),
        ("o mais rapido", Duration),
        ("mais rapido", Duration),
        ("a mais rapida", Duration),
        ("earliest", Departure),
        ("earliest one", Departure),
        ("as early as possible", Departure),
        ("first flight of the day", Departure),
        ("earliest flight", Departure),
        ("el mas temprano", Departure),
        ("mas temprano", Departure),
        ("lo antes posible", Departure),
        ("le plus tot", Departure),
        ("plus tot", Departure),
        ("am fruhesten", Departure),
        ("fruhesten", Departure),
        ("fruheste", Departure),
        ("so fruh wie moglich", Departure),
        ("il piu presto", Departure),
        ("piu presto", Departure),
        ("o mais cedo", Departure),
        ("mais cedo", Departure),
    ])
});

static TIMES: LazyLock<Phrases<TimeOfDay>> = LazyLock::new(|| {
    use TimeOfDay::*;
    Phrases::new(&[
        ("morning", Morning),
        ("in the morning", Morning),
        ("mornings", Morning),
        ("afternoon", Afternoon),
        ("in the afternoon", Afternoon),
        ("evening", Evening),
        ("in the evening", Evening),
        ("evenings", Evening),
        ("tonight", Evening),
        ("night", Night),
        ("at night", Night),
        ("overnight", Night),
        ("red eye", Night),
        ("redeye", Night),
        ("late night", Night),
        ("por la manana", Morning),
        ("en la manana", Morning),
        ("de manana", Morning),
        ("la manana", Morning),
        ("temprano", Morning),
        ("por la tarde", Afternoon),
        ("en la tarde", Afternoon),
        ("la tarde", Afternoon),
        ("de tarde", Afternoon),
        ("por la noche", Evening),
        ("en la noche", Evening),
        ("esta noche", Evening),
        ("de noche", Evening),
        ("nocturno", Night),
        ("vuelo nocturno", Night),
        ("de madrugada", Night),
        ("madrugada", Night),
        ("le matin", Morning),
        ("matin", Morning),
        ("dans la matinee", Morning),
        ("matinee", Morning),
        ("l apres midi", Afternoon),
        ("apres midi", Afternoon),
        ("le soir", Evening),
        ("soir", Evening),
        ("ce soir", Evening),
        ("en soiree", Evening),
        ("soiree", Evening),
        ("la nuit", Night),
        ("de nuit", Night),
        ("vol de nuit", Night),
        ("am morgen", Morning),
        ("morgens", Morning),
        ("vormittags", Morning),
        ("am vormittag", Morning),
        ("fruh", Morning),
        ("fruh morgens", Morning),
        ("am nachmittag", Afternoon),
        ("nachmittags", Afternoon),
        ("am abend", Evening),
        ("abends", Evening),
        ("heute abend", Evening),
        ("nachts", Night),
        ("in der nacht", Night),
        ("nachtflug", Night),
        ("di mattina", Morning),
        ("la mattina", Morning),
        ("mattina", Morning),
        ("al mattino", Morning),
        ("di mattino", Morning),
        ("nel pomeriggio", Afternoon),
        ("di pomeriggio", Afternoon),
        ("pomeriggio", Afternoon),
        ("di sera", Evening),
        ("la sera", Evening),
        ("stasera", Evening),
        ("in serata", Evening),
        ("di notte", Night),
        ("notturno", Night),
        ("de manha", Morning),
        ("pela manha", Morning),
        ("manha", Morning),
        ("a tarde", Afternoon),
        ("de tarde", Afternoon),
        ("pela tarde", Afternoon),
        ("a noite", Evening),
        ("de noite", Evening),
        ("esta noite", Evening),
        ("noite", Evening),
        ("a noitinha", Evening),
        ("noturno", Night),
        ("voo noturno", Night),
    ])
});

/// Every folded word the preference tables use.
pub(crate) fn vocabulary() -> Vec<&'static str> {
    let mut words: Vec<&'static str> = CABINS.words().collect();
    words.extend(NON_STOP.words());
    words.extend(SORTS.words());
    words.extend(TIMES.words());
    words
}

/// The preferences a message states.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Preferences {
    /// Travel class.
    pub(crate) cabin: Option<Cabin>,
    /// Direct only, or stops fine.
    pub(crate) non_stop: Option<bool>,
    /// Sort preference.
    pub(crate) sort: Option<OfferSort>,
    /// Part of the day.
    pub(crate) time_of_day: Option<TimeOfDay>,
}

fn take<T: Copy>(table: &Phrases<T>, tokens: &[Token], used: &mut [bool]) -> Option<T> {
    let (value, start, end) = table.find(tokens, used)?;
    mark(used, start, end);
    Some(value)
}

/// The preferences in the free tokens. The time of day goes first so that
/// "por la mañana" is the morning, and "tonight"/"esta noche" leave the day
/// (today) to the date finder.
pub(crate) fn find(tokens: &[Token], used: &mut [bool]) -> Preferences {
    let cabin = take(&CABINS, tokens, used);
    let non_stop = take(&NON_STOP, tokens, used);
    let sort = take(&SORTS, tokens, used);
    let time_of_day = TIMES.find(tokens, used).map(|(value, start, end)| {
        // "tonight", "esta noche", "ce soir", "stasera" also name today: leave them for the date finder too.
        let shared = ["tonight", "esta noche", "ce soir", "heute abend", "stasera", "esta noite"];
        let phrase: Vec<&str> = tokens[start..end].iter().map(|t| t.norm.as_str()).collect();
        if !shared.contains(&phrase.join(" ").as_str()) {
            mark(used, start, end);
        }
        value
    });
    // Italian "sera" alone ("domani sera") is also French and Spanish "will be": only after a day.
    let time_of_day = time_of_day.or_else(|| {
        let days = [
            "domani",
            "oggi",
            "dopodomani",
            "lunedi",
            "martedi",
            "mercoledi",
            "giovedi",
            "venerdi",
            "sabato",
            "domenica",
        ];
        (1..tokens.len())
            .find(|i| !used[*i] && tokens[*i].is("sera") && days.contains(&tokens[i - 1].norm.as_str()))
            .map(|i| {
                used[i] = true;
                TimeOfDay::Evening
            })
    });
    Preferences { cabin, non_stop, sort, time_of_day }
}

#[cfg(test)]
mod tests {
    use super::super::text::tokenize;
    use super::*;

    fn prefs(text: &str) -> Preferences {
        let tokens = tokenize(text);
        let mut used = vec![false; tokens.len()];
        find(&tokens, &mut used)
    }

    #[test]
    fn cabins() {
        for (text, cabin) in [
            ("in business", Cabin::Business),
            ("Business Class please", Cabin::Business),
            ("classe affaires", Cabin::Business),
            ("executiva", Cabin::Business),
            ("primera clase", Cabin::First),
            ("first class", Cabin::First),
            ("premium economy", Cabin::PremiumEconomy),
            ("erste Klasse", Cabin::First),
            ("economy", Cabin::Economy),
        ] {
            assert_eq!(prefs(text).cabin, Some(cabin), "{text}");
        }
        assert_eq!(prefs("the first one").cabin, None);
    }

    #[test]
    fn non_stop_and_sort_and_time() {
        assert_eq!(prefs("only direct flights").non_stop, Some(true));
        assert_eq!(prefs("ohne Umsteigen").non_stop, Some(true));
        assert_eq!(prefs("sem escalas").non_stop, Some(true));
        assert_eq!(prefs("stops are fine").non_stop, Some(false));
        assert_eq!(prefs("el más barato").sort, Some(OfferSort::Price));
        assert_eq!(prefs("am günstigsten").sort, Some(OfferSort::Price));
        assert_eq!(prefs("más rápido").sort, Some(OfferSort::Duration));
        assert_eq!(prefs("earliest").sort, Some(OfferSort::Departure));
        assert_eq!(prefs("evening flights").time_of_day, Some(TimeOfDay::Evening));
        assert_eq!(prefs("por la mañana").time_of_day, Some(TimeOfDay::Morning));
        assert_eq!(prefs("am Abend").time_of_day, Some(TimeOfDay::Evening));
        assert_eq!(prefs("à noite").time_of_day, Some(TimeOfDay::Evening));
        assert_eq!(prefs("red-eye").time_of_day, Some(TimeOfDay::Night));
        assert_eq!(prefs("am Freitag").time_of_day, None);
    }
}
