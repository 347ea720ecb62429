//! The agent's words: every reply and quick-reply chip, written by us in
//! each of the six languages (no machine translation), chosen from the
//! dialogue's [`NextStep`] and what a search found.
//!
//! Replies are plain text. The only traveller text ever repeated back is the
//! name of a place we did not recognise, and it goes through [`inert`] first,
//! so a reply can never carry markup or script a frontend might render.

mod booking;

use chrono::{Datelike, NaiveDate};

pub use self::booking::{BookingNews, news as booking_news, question as detail_question};
use super::model::{DialogueState, Intent, Language, NextStep, PendingQuestion, Slot, Stage};
use crate::flights::model::Money;
use crate::reference::ReferenceData;

/// What a search (or a cheapest-day search) found, for the reply to tell.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSummary {
    /// Origin code.
    pub origin: String,
    /// Destination code.
    pub destination: String,
    /// The day searched (for a range: the cheapest day found).
    pub date: NaiveDate,
    /// Return day, for round trips.
    pub return_date: Option<NaiveDate>,
    /// Offers that matched.
    pub found: usize,
    /// The best offer's price and its carrier's name.
    pub best: Option<(Money, String)>,
    /// No provider answered at all.
    pub providers_down: bool,
    /// The range searched, when the traveller gave one.
    pub range: Option<(NaiveDate, NaiveDate)>,
    /// The search input was refused (too many travellers, say): why, in our words.
    pub refused: Option<Refusal>,
}

/// Why a search the conversation built cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// More than nine seated travellers, or more infants than adults.
    Passengers,
    /// A date too far ahead or a return before the departure.
    Dates,
}

/// A traveller's text made safe to repeat: letters, digits, spaces and a few
/// harmless marks only, at most 40 characters.
pub fn inert(text: &str) -> String {
    let kept: String =
        text.chars().filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '\'' | '.' | ',')).take(40).collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A place's name for a reply: the city in the traveller's language, with the
/// airport code when the traveller named an airport.
pub fn place_name(code: &str, language: Language) -> String {
    let data = ReferenceData::embedded();
    if let Some(name) = data.city_name_in(code, language.code()) {
        return name.to_owned();
    }
    match data.airport(code) {
        Some(airport) => {
            let city = data
                .city_name_in(&airport.city_code, language.code())
                .map(str::to_owned)
                .or_else(|| (!airport.city_name.is_empty()).then(|| airport.city_name.clone()))
                .unwrap_or_else(|| airport.name.clone());
            format!("{city} ({code})")
        }
        None => data.place(code).map(|p| p.city_name).unwrap_or_else(|| code.to_owned()),
    }
}

/// "Santiago, CL (SCL)": enough to tell same-named places apart.
fn candidate_name(code: &str, language: Language) -> String {
    let data = ReferenceData::embedded();
    match data.place(code) {
        Some(place) => {
            let city = data.city_name_in(code, language.code()).map(str::to_owned).unwrap_or(place.city_name);
            format!("{city}, {} ({code})", place.country_code)
        }
        None => code.to_owned(),
    }
}

const MONTHS: [[&str; 12]; 6] = [
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
    [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    [
        "gennaio",
        "febbraio",
        "marzo",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "agosto",
        "settembre",
        "ottobre",
        "novembre",
        "dicembre",
    ],
    [
        "janeiro",
        "fevereiro",
        "março",
        "abril",
        "maio",
        "junho",
        "julho",
        "agosto",
        "setembro",
        "outubro",
        "novembro",
        "dezembro",
    ],
];

fn index(language: Language) -> usize {
    match language {
        Language::En => 0,
        Language::Es => 1,
        Language::Fr => 2,
        Language::De => 3,
        Language::It => 4,
        Language::Pt => 5,
    }
}

/// A day as the language writes it: "December 20", "20 de diciembre", "20. Dezember".
pub fn format_date(date: NaiveDate, language: Language) -> String {
    let month = MONTHS[index(language)][date.month0() as usize];
    let day = date.day();
    match language {
        Language::En => format!("{month} {day}"),
        Language::Es | Language::Pt => format!("{day} de {month}"),
        Language::De => format!("{day}. {month}"),
        Language::Fr if day == 1 => format!("1er {month}"),
        Language::Fr | Language::It => format!("{day} {month}"),
    }
}

/// An amount as the language writes it: "342.20 EUR" in English, "342,20 EUR" elsewhere.
pub fn format_money(money: &Money, language: Language) -> String {
    let amount = format!("{:.2}", money.amount);
    let amount = if language == Language::En { amount } else { amount.replace('.', ",") };
    format!("{amount} {}", money.currency)
}

/// "A or B", "A, B or C" in the language.
fn either(items: &[String], language: Language) -> String {
    let or = match language {
        Language::En => "or",
        Language::Es => "o",
        Language::Fr => "ou",
        Language::De => "oder",
        Language::It => "o",
        Language::Pt => "ou",
    };
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {or} {last}", init.join(", ")),
    }
}

/// The reply to a turn.
pub fn reply(language: Language, step: &NextStep, state: &DialogueState, summary: Option<&SearchSummary>) -> String {
    let l = language;
    let slots = &state.slots;
    match step {
        NextStep::Ask(slot) => ask(l, *slot, state),
        NextStep::WhichPlace { text, candidates } => {
            let names: Vec<String> = candidates.iter().map(|c| candidate_name(c, l)).collect();
            let text = inert(text);
            let list = either(&names, l);
            match l {
                Language::En => format!("There is more than one {text}. Which do you mean: {list}?"),
                Language::Es => format!("Hay más de un {text}. ¿Cuál quieres decir: {list}?"),
                Language::Fr => format!("Il y a plusieurs {text}. Lequel voulez-vous dire : {list} ?"),
                Language::De => format!("Es gibt mehrere Orte namens {text}. Welchen meinen Sie: {list}?"),
                Language::It => format!("Esiste più di un {text}. Quale intendi: {list}?"),
                Language::Pt => format!("Há mais de um {text}. Qual deles: {list}?"),
            }
        }
        NextStep::DidYouMean { text, suggestions } => {
            let text = inert(text);
            if suggestions.is_empty() {
                return match l {
                    Language::En => format!(
                        "I couldn't find a place called “{text}”. Could you give me the city name or its airport code?"
                    ),
                    Language::Es => format!(
                        "No encuentro ningún lugar llamado «{text}». ¿Me dices el nombre de la ciudad o el código del aeropuerto?"
                    ),
                    Language::Fr => format!(
                        "Je ne trouve aucun lieu nommé « {text} ». Pouvez-vous m'indiquer la ville ou le code de l'aéroport ?"
                    ),
                    Language::De => format!(
                        "Einen Ort namens „{text}“ finde ich nicht. Nennen Sie mir bitte die Stadt oder den Flughafencode."
                    ),
                    Language::It => format!(
                        "Non trovo nessun luogo chiamato «{text}». Mi dici il nome della città o il codice dell'aeroporto?"
                    ),
                    Language::Pt => format!(
                        "Não encontro nenhum lugar chamado «{text}». Pode dizer o nome da cidade ou o código do aeroporto?"
                    ),
                };
            }
            let names: Vec<String> = suggestions.iter().map(|c| place_name(c, l)).collect();
            let list = either(&names, l);
            match l {
                Language::En => format!("I don't know a place called “{text}”. Did you mean {list}?"),
                Language::Es => format!("No conozco ningún lugar llamado «{text}». ¿Quisiste decir {list}?"),
                Language::Fr => format!("Je ne connais pas de lieu nommé « {text} ». Vouliez-vous dire {list} ?"),
                Language::De => format!("Einen Ort namens „{text}“ kenne ich nicht. Meinten Sie {list}?"),
                Language::It => format!("Non conosco un luogo chiamato «{text}». Intendevi {list}?"),
                Language::Pt => format!("Não conheço nenhum lugar chamado «{text}». Quis dizer {list}?"),
            }
        }
        NextStep::SamePlace => match l {
            Language::En => "The departure and the destination are the same place. Where would you like to go?",
            Language::Es => "La salida y el destino son el mismo lugar. ¿A dónde quieres ir?",
            Language::Fr => "Le départ et la destination sont identiques. Où souhaitez-vous aller ?",
            Language::De => "Abflug- und Zielort sind gleich. Wohin möchten Sie fliegen?",
            Language::It => "La partenza e la destinazione coincidono. Dove vuoi andare?",
            Language::Pt => "A origem e o destino são o mesmo lugar. Para onde quer ir?",
        }
        .to_owned(),
        NextStep::Search | NextStep::CheapestDates => match summary {
            Some(summary) => results(l, summary),
            None => ask(l, Slot::DepartureDate, state),
        },
        NextStep::Select { index } => {
            let n = index + 1;
            let route = match (&slots.origin, &slots.destination) {
                (Some(o), Some(d)) => format!("{} → {}", place_name(o, l), place_name(d, l)),
                _ => String::new(),
            };
            match l {
                Language::En => format!(
                    "Option {n} is yours to book ({route}). To book it I'll need each traveller's full name and date of birth, and an e-mail address for the confirmation."
                ),
                Language::Es => format!(
                    "Has elegido la opción {n} ({route}). Para reservarla necesito el nombre completo y la fecha de nacimiento de cada viajero, y un correo electrónico para la confirmación."
                ),
                Language::Fr => format!(
                    "Vous avez choisi l'option {n} ({route}). Pour la réserver, il me faut le nom complet et la date de naissance de chaque voyageur, ainsi qu'une adresse e-mail pour la confirmation."
                ),
                Language::De => format!(
                    "Sie haben Option {n} gewählt ({route}). Zum Buchen brauche ich den vollständigen Namen und das Geburtsdatum jedes Reisenden sowie eine E-Mail-Adresse für die Bestätigung."
                ),
                Language::It => format!(
                    "Hai scelto l'opzione {n} ({route}). Per prenotarla mi servono nome e cognome e data di nascita di ogni viaggiatore, e un indirizzo e-mail per la conferma."
                ),
                Language::Pt => format!(
                    "Escolheu a opção {n} ({route}). Para a reservar preciso do nome completo e da data de nascimento de cada viajante, e de um e-mail para a confirmação."
                ),
            }
        }
        NextStep::Handoff { intent: Intent::Book | Intent::Pay | Intent::SelectOffer } => match state.selected_offer {
            Some(_) => {
                let index = state
                    .selected_offer
                    .as_ref()
                    .and_then(|id| state.shown_offers.iter().position(|o| o == id))
                    .unwrap_or(0);
                reply(l, &NextStep::Select { index }, state, summary)
            }
            None if !state.shown_offers.is_empty() => match l {
                Language::En => "Which of the flights would you like? Tell me its number, or say “the cheapest”.",
                Language::Es => "¿Cuál de los vuelos quieres? Dime su número, o «el más barato».",
                Language::Fr => "Quel vol souhaitez-vous ? Donnez-moi son numéro, ou dites « le moins cher ».",
                Language::De => "Welchen Flug möchten Sie? Nennen Sie die Nummer oder sagen Sie „den günstigsten“.",
                Language::It => "Quale volo vuoi? Dimmi il numero, oppure «il più economico».",
                Language::Pt => "Qual dos voos quer? Diga o número, ou «o mais barato».",
            }
            .to_owned(),
            None => reply(l, &NextStep::NothingToSelect, state, summary),
        },
        NextStep::Handoff { .. } => match l {
            Language::En => "You don't have any bookings with me yet. Shall we find you a flight?",
            Language::Es => "Todavía no tienes reservas conmigo. ¿Buscamos un vuelo?",
            Language::Fr => "Vous n'avez pas encore de réservation chez moi. Cherchons-nous un vol ?",
            Language::De => "Sie haben noch keine Buchung bei mir. Sollen wir einen Flug suchen?",
            Language::It => "Non hai ancora prenotazioni con me. Cerchiamo un volo?",
            Language::Pt => "Ainda não tem reservas comigo. Procuramos um voo?",
        }
        .to_owned(),
        NextStep::NoSuchOption { shown } => match l {
            Language::En => format!("I showed you {shown} options. Which one would you like, 1 to {shown}?"),
            Language::Es => format!("Te he mostrado {shown} opciones. ¿Cuál quieres, de la 1 a la {shown}?"),
            Language::Fr => format!("Je vous ai montré {shown} options. Laquelle voulez-vous, de 1 à {shown} ?"),
            Language::De => format!("Ich habe Ihnen {shown} Optionen gezeigt. Welche möchten Sie, 1 bis {shown}?"),
            Language::It => format!("Ti ho mostrato {shown} opzioni. Quale vuoi, da 1 a {shown}?"),
            Language::Pt => format!("Mostrei-lhe {shown} opções. Qual quer, de 1 a {shown}?"),
        },
        NextStep::Book { .. } | NextStep::AskDetail { .. } | NextStep::CreateBooking | NextStep::LeaveBooking => {
            booking::step(l, step, state)
        }
        NextStep::NothingToSelect => match l {
            Language::En => "Let's find you a flight first. Where would you like to go?",
            Language::Es => "Primero busquemos un vuelo. ¿A dónde quieres ir?",
            Language::Fr => "Cherchons d'abord un vol. Où souhaitez-vous aller ?",
            Language::De => "Suchen wir zuerst einen Flug. Wohin möchten Sie?",
            Language::It => "Prima troviamo un volo. Dove vuoi andare?",
            Language::Pt => "Primeiro vamos encontrar um voo. Para onde quer ir?",
        }
        .to_owned(),
        NextStep::Greet => match l {
            Language::En => "Hello! I'm Wayfarer, your travel agent. Tell me where and when you'd like to fly.",
            Language::Es => "¡Hola! Soy Wayfarer, tu agente de viajes. Dime a dónde y cuándo quieres volar.",
            Language::Fr => {
                "Bonjour ! Je suis Wayfarer, votre agent de voyages. Dites-moi où et quand vous souhaitez voyager."
            }
            Language::De => "Hallo! Ich bin Wayfarer, Ihr Reisebüro. Sagen Sie mir, wohin und wann Sie fliegen möchten.",
            Language::It => "Ciao! Sono Wayfarer, il tuo agente di viaggio. Dimmi dove e quando vuoi volare.",
            Language::Pt => "Olá! Sou o Wayfarer, o seu agente de viagens. Diga-me para onde e quando quer voar.",
        }
        .to_owned(),
        NextStep::Farewell => match l {
            Language::En => "Thank you, and have a good trip!",
            Language::Es => "¡Gracias, y buen viaje!",
            Language::Fr => "Merci, et bon voyage !",
            Language::De => "Danke, und gute Reise!",
            Language::It => "Grazie, e buon viaggio!",
            Language::Pt => "Obrigado, e boa viagem!",
        }
        .to_owned(),
        NextStep::Help => match l {
            Language::En => {
                "I can find flights and book them. Tell me where from, where to and when, for example: “Lisbon to London on December 20, 2 adults”. I'll ask for anything missing."
            }
            Language::Es => {
                "Puedo buscar vuelos y reservarlos. Dime desde dónde, a dónde y cuándo, por ejemplo: «de Madrid a Londres el 20 de diciembre, 2 adultos». Te preguntaré lo que falte."
            }
            Language::Fr => {
                "Je peux trouver des vols et les réserver. Dites-moi d'où, vers où et quand, par exemple : « de Paris à Lisbonne le 20 décembre, 2 adultes ». Je vous demanderai ce qui manque."
            }
            Language::De => {
                "Ich kann Flüge suchen und buchen. Sagen Sie mir, von wo, wohin und wann, zum Beispiel: „von Berlin nach London am 20. Dezember, 2 Erwachsene“. Was fehlt, frage ich nach."
            }
            Language::It => {
                "Posso cercare voli e prenotarli. Dimmi da dove, per dove e quando, per esempio: «da Roma a Londra il 20 dicembre, 2 adulti». Ti chiederò quello che manca."
            }
            Language::Pt => {
                "Posso procurar voos e reservá-los. Diga-me de onde, para onde e quando, por exemplo: «de Lisboa para Londres a 20 de dezembro, 2 adultos». Pergunto o que faltar."
            }
        }
        .to_owned(),
        NextStep::NotUnderstood => match l {
            Language::En => {
                "Sorry, I didn't understand that. Tell me where you'd like to fly, for example “Madrid to Paris tomorrow”."
            }
            Language::Es => "Perdona, no te he entendido. Dime a dónde quieres volar, por ejemplo «de Madrid a París mañana».",
            Language::Fr => {
                "Désolé, je n'ai pas compris. Dites-moi où vous souhaitez aller, par exemple « de Paris à Rome demain »."
            }
            Language::De => {
                "Entschuldigung, das habe ich nicht verstanden. Sagen Sie mir, wohin Sie fliegen möchten, zum Beispiel „Berlin nach Paris morgen“."
            }
            Language::It => "Scusa, non ho capito. Dimmi dove vuoi volare, per esempio «da Roma a Parigi domani».",
            Language::Pt => {
                "Desculpe, não percebi. Diga-me para onde quer voar, por exemplo «de Lisboa para Paris amanhã»."
            }
        }
        .to_owned(),
    }
}

fn ask(l: Language, slot: Slot, state: &DialogueState) -> String {
    let slots = &state.slots;
    match slot {
        Slot::Destination => match l {
            Language::En => "Where would you like to fly to?",
            Language::Es => "¿A dónde te gustaría volar?",
            Language::Fr => "Où souhaitez-vous aller ?",
            Language::De => "Wohin möchten Sie fliegen?",
            Language::It => "Dove vorresti andare?",
            Language::Pt => "Para onde gostaria de voar?",
        }
        .to_owned(),
        Slot::Origin => match slots.destination.as_deref().map(|d| place_name(d, l)) {
            Some(dest) => match l {
                Language::En => format!("To {dest} — and where will you be flying from?"),
                Language::Es => format!("A {dest}. ¿Y desde dónde sales?"),
                Language::Fr => format!("Pour {dest}. Et d'où partez-vous ?"),
                Language::De => format!("Nach {dest}. Und von wo fliegen Sie ab?"),
                Language::It => format!("Per {dest}. E da dove parti?"),
                Language::Pt => format!("Para {dest}. E de onde vai partir?"),
            },
            None => match l {
                Language::En => "Where will you be flying from?",
                Language::Es => "¿Desde dónde sales?",
                Language::Fr => "D'où partez-vous ?",
                Language::De => "Von wo fliegen Sie ab?",
                Language::It => "Da dove parti?",
                Language::Pt => "De onde vai partir?",
            }
            .to_owned(),
        },
        Slot::DepartureDate => match (&slots.origin, &slots.destination) {
            (Some(o), Some(d)) => {
                let route = format!("{} → {}", place_name(o, l), place_name(d, l));
                match l {
                    Language::En => format!("{route}: which day would you like to fly?"),
                    Language::Es => format!("{route}: ¿qué día quieres volar?"),
                    Language::Fr => format!("{route} : quel jour souhaitez-vous partir ?"),
                    Language::De => format!("{route}: An welchem Tag möchten Sie fliegen?"),
                    Language::It => format!("{route}: che giorno vuoi partire?"),
                    Language::Pt => format!("{route}: em que dia quer voar?"),
                }
            }
            _ => match l {
                Language::En => "Which day would you like to fly?",
                Language::Es => "¿Qué día quieres volar?",
                Language::Fr => "Quel jour souhaitez-vous partir ?",
                Language::De => "An welchem Tag möchten Sie fliegen?",
                Language::It => "Che giorno vuoi partire?",
                Language::Pt => "Em que dia quer voar?",
            }
            .to_owned(),
        },
        Slot::ReturnDate => match l {
            Language::En => "And when would you like to come back?",
            Language::Es => "¿Y cuándo quieres volver?",
            Language::Fr => "Et quand souhaitez-vous revenir ?",
            Language::De => "Und wann möchten Sie zurückfliegen?",
            Language::It => "E quando vuoi tornare?",
            Language::Pt => "E quando quer voltar?",
        }
        .to_owned(),
        Slot::Passengers => match l {
            Language::En => "How many children will travel with you?",
            Language::Es => "¿Cuántos niños viajan contigo?",
            Language::Fr => "Combien d'enfants voyagent avec vous ?",
            Language::De => "Wie viele Kinder reisen mit?",
            Language::It => "Quanti bambini viaggiano con te?",
            Language::Pt => "Quantas crianças viajam consigo?",
        }
        .to_owned(),
    }
}

fn results(l: Language, s: &SearchSummary) -> String {
    let o = place_name(&s.origin, l);
    let d = place_name(&s.destination, l);
    let date = format_date(s.date, l);
    if let Some(refusal) = s.refused {
        return match (refusal, l) {
            (Refusal::Passengers, Language::En) => {
                "I can book up to 9 seated travellers, with no more infants than adults. How many are travelling?"
            }
            (Refusal::Passengers, Language::Es) => {
                "Puedo reservar hasta 9 viajeros con asiento, y no más bebés que adultos. ¿Cuántos viajáis?"
            }
            (Refusal::Passengers, Language::Fr) => {
                "Je peux réserver jusqu'à 9 voyageurs avec siège, et pas plus de bébés que d'adultes. Combien êtes-vous ?"
            }
            (Refusal::Passengers, Language::De) => {
                "Ich kann bis zu 9 Reisende mit Sitzplatz buchen, und nicht mehr Babys als Erwachsene. Wie viele reisen?"
            }
            (Refusal::Passengers, Language::It) => {
                "Posso prenotare fino a 9 viaggiatori con posto, e non più neonati che adulti. Quanti siete?"
            }
            (Refusal::Passengers, Language::Pt) => {
                "Posso reservar até 9 viajantes com lugar, e não mais bebés do que adultos. Quantos viajam?"
            }
            (Refusal::Dates, Language::En) => {
                "Those dates don't work: flights can be booked up to a year ahead, and the return must come after the departure. Which dates would you like?"
            }
            (Refusal::Dates, Language::Es) => {
                "Esas fechas no sirven: se puede reservar hasta con un año de antelación y la vuelta debe ser después de la ida. ¿Qué fechas quieres?"
            }
            (Refusal::Dates, Language::Fr) => {
                "Ces dates ne conviennent pas : on peut réserver jusqu'à un an à l'avance et le retour doit suivre l'aller. Quelles dates souhaitez-vous ?"
            }
            (Refusal::Dates, Language::De) => {
                "Diese Daten passen nicht: Gebucht werden kann bis zu einem Jahr im Voraus, und der Rückflug muss nach dem Hinflug liegen. Welche Daten möchten Sie?"
            }
            (Refusal::Dates, Language::It) => {
                "Queste date non vanno bene: si può prenotare fino a un anno prima e il ritorno deve essere dopo l'andata. Quali date vuoi?"
            }
            (Refusal::Dates, Language::Pt) => {
                "Essas datas não servem: pode reservar até um ano antes e a volta tem de ser depois da ida. Que datas quer?"
            }
        }
        .to_owned();
    }
    if s.providers_down {
        return match l {
            Language::En => "Our flight providers aren't answering right now. Please try again in a moment.",
            Language::Es => {
                "Nuestros proveedores de vuelos no responden ahora mismo. Inténtalo de nuevo en un momento."
            }
            Language::Fr => "Nos fournisseurs de vols ne répondent pas pour le moment. Réessayez dans un instant.",
            Language::De => "Unsere Flugpartner antworten gerade nicht. Bitte versuchen Sie es gleich noch einmal.",
            Language::It => "I nostri fornitori di voli non rispondono al momento. Riprova tra poco.",
            Language::Pt => "Os nossos fornecedores de voos não estão a responder. Tente novamente daqui a pouco.",
        }
        .to_owned();
    }
    let Some((price, carrier)) = &s.best else {
        return match l {
            Language::En => format!("I couldn't find flights from {o} to {d} on {date}. Shall we try another day?"),
            Language::Es => format!("No he encontrado vuelos de {o} a {d} el {date}. ¿Probamos otro día?"),
            Language::Fr => format!("Je n'ai trouvé aucun vol de {o} à {d} le {date}. Essayons un autre jour ?"),
            Language::De => format!(
                "Ich habe keine Flüge von {o} nach {d} am {date} gefunden. Sollen wir einen anderen Tag versuchen?"
            ),
            Language::It => format!("Non ho trovato voli da {o} a {d} il {date}. Proviamo un altro giorno?"),
            Language::Pt => format!("Não encontrei voos de {o} para {d} a {date}. Tentamos outro dia?"),
        };
    };
    let price = format_money(price, l);
    let n = s.found;
    if let Some((from, to)) = s.range {
        let (from, to) = (format_date(from, l), format_date(to, l));
        return match l {
            Language::En => format!(
                "The cheapest day to fly from {o} to {d} between {from} and {to} is {date}, from {price} with {carrier}. Here are that day's best flights."
            ),
            Language::Es => format!(
                "El día más barato para volar de {o} a {d} entre el {from} y el {to} es el {date}, desde {price} con {carrier}. Estos son los mejores vuelos de ese día."
            ),
            Language::Fr => format!(
                "Le jour le moins cher pour aller de {o} à {d} entre le {from} et le {to} est le {date}, à partir de {price} avec {carrier}. Voici les meilleurs vols de ce jour-là."
            ),
            Language::De => format!(
                "Der günstigste Tag von {o} nach {d} zwischen {from} und {to} ist der {date}, ab {price} mit {carrier}. Hier sind die besten Flüge an diesem Tag."
            ),
            Language::It => format!(
                "Il giorno più economico per volare da {o} a {d} tra il {from} e il {to} è il {date}, da {price} con {carrier}. Ecco i voli migliori di quel giorno."
            ),
            Language::Pt => format!(
                "O dia mais barato para voar de {o} para {d} entre {from} e {to} é {date}, desde {price} com a {carrier}. Aqui estão os melhores voos desse dia."
            ),
        };
    }
    let back = s.return_date.map(|r| format_date(r, l));
    match (l, back) {
        (Language::En, None) => {
            format!("I found {n} flights from {o} to {d} on {date}. The best is {price} with {carrier}.")
        }
        (Language::En, Some(back)) => format!(
            "I found {n} round trips from {o} to {d}, out on {date} and back on {back}. The best is {price} with {carrier}."
        ),
        (Language::Es, None) => {
            format!("He encontrado {n} vuelos de {o} a {d} el {date}. El mejor cuesta {price} con {carrier}.")
        }
        (Language::Es, Some(back)) => format!(
            "He encontrado {n} viajes de ida y vuelta de {o} a {d}, ida el {date} y vuelta el {back}. El mejor cuesta {price} con {carrier}."
        ),
        (Language::Fr, None) => {
            format!("J'ai trouvé {n} vols de {o} à {d} le {date}. Le meilleur est à {price} avec {carrier}.")
        }
        (Language::Fr, Some(back)) => format!(
            "J'ai trouvé {n} allers-retours de {o} à {d}, aller le {date} et retour le {back}. Le meilleur est à {price} avec {carrier}."
        ),
        (Language::De, None) => {
            format!("Ich habe {n} Flüge von {o} nach {d} am {date} gefunden. Das beste Angebot: {price} mit {carrier}.")
        }
        (Language::De, Some(back)) => format!(
            "Ich habe {n} Hin- und Rückflüge von {o} nach {d} gefunden, hin am {date}, zurück am {back}. Das beste Angebot: {price} mit {carrier}."
        ),
        (Language::It, None) => {
            format!("Ho trovato {n} voli da {o} a {d} il {date}. Il migliore costa {price} con {carrier}.")
        }
        (Language::It, Some(back)) => format!(
            "Ho trovato {n} voli di andata e ritorno da {o} a {d}, andata il {date} e ritorno il {back}. Il migliore costa {price} con {carrier}."
        ),
        (Language::Pt, None) => {
            format!("Encontrei {n} voos de {o} para {d} a {date}. O melhor custa {price} com a {carrier}.")
        }
        (Language::Pt, Some(back)) => format!(
            "Encontrei {n} viagens de ida e volta de {o} para {d}, ida a {date} e volta a {back}. O melhor custa {price} com a {carrier}."
        ),
    }
}

/// A traveller's latest booking, for "how is my booking?".
#[derive(Debug, Clone, PartialEq)]
pub struct BookingBrief {
    /// Where it stands.
    pub status: crate::booking::model::BookingStatus,
    /// The airline reference, once confirmed.
    pub reference: Option<String>,
    /// Origin and destination airport codes.
    pub route: (String, String),
    /// Local departure day.
    pub date: NaiveDate,
}

/// The reply to "how is my booking?" or "cancel my booking": where the
/// latest booking stands, or that there is none. Cancelling is the client's
/// `cancelBooking`; the chat says where the booking is so nothing is
/// cancelled by a misunderstood sentence.
pub fn booking_reply(l: Language, cancel: bool, brief: Option<&BookingBrief>) -> String {
    use crate::booking::model::BookingStatus as S;
    let Some(b) = brief else {
        return reply(l, &NextStep::Handoff { intent: Intent::BookingStatus }, &DialogueState::default(), None);
    };
    let (o, d) = (place_name(&b.route.0, l), place_name(&b.route.1, l));
    let date = format_date(b.date, l);
    let status = match (b.status, l) {
        (S::PendingPayment, Language::En) => "waiting for payment",
        (S::PendingPayment, Language::Es) => "pendiente de pago",
        (S::PendingPayment, Language::Fr) => "en attente de paiement",
        (S::PendingPayment, Language::De) => "noch nicht bezahlt",
        (S::PendingPayment, Language::It) => "in attesa di pagamento",
        (S::PendingPayment, Language::Pt) => "a aguardar pagamento",
        (S::Confirmed, Language::En) => "confirmed",
        (S::Confirmed, Language::Es) => "confirmada",
        (S::Confirmed, Language::Fr) => "confirmée",
        (S::Confirmed, Language::De) => "bestätigt",
        (S::Confirmed, Language::It) => "confermata",
        (S::Confirmed, Language::Pt) => "confirmada",
        (S::Cancelled, Language::En) => "cancelled",
        (S::Cancelled, Language::Es) => "cancelada",
        (S::Cancelled, Language::Fr) => "annulée",
        (S::Cancelled, Language::De) => "storniert",
        (S::Cancelled, Language::It) => "cancellata",
        (S::Cancelled, Language::Pt) => "cancelada",
        (S::Expired, Language::En) => "expired unpaid",
        (S::Expired, Language::Es) => "caducada sin pagar",
        (S::Expired, Language::Fr) => "expirée sans paiement",
        (S::Expired, Language::De) => "unbezahlt verfallen",
        (S::Expired, Language::It) => "scaduta senza pagamento",
        (S::Expired, Language::Pt) => "expirada sem pagamento",
        (S::Failed, Language::En) => "not completed",
        (S::Failed, Language::Es) => "no completada",
        (S::Failed, Language::Fr) => "non aboutie",
        (S::Failed, Language::De) => "nicht zustande gekommen",
        (S::Failed, Language::It) => "non completata",
        (S::Failed, Language::Pt) => "não concluída",
    };
    let reference = b.reference.as_deref().map(inert);
    let mut text = match (l, reference) {
        (Language::En, Some(r)) => format!("Your booking {r} from {o} to {d} on {date} is {status}."),
        (Language::En, None) => format!("Your booking from {o} to {d} on {date} is {status}."),
        (Language::Es, Some(r)) => format!("Tu reserva {r} de {o} a {d} el {date} está {status}."),
        (Language::Es, None) => format!("Tu reserva de {o} a {d} el {date} está {status}."),
        (Language::Fr, Some(r)) => format!("Votre réservation {r} de {o} à {d} le {date} est {status}."),
        (Language::Fr, None) => format!("Votre réservation de {o} à {d} le {date} est {status}."),
        (Language::De, Some(r)) => format!("Ihre Buchung {r} von {o} nach {d} am {date} ist {status}."),
        (Language::De, None) => format!("Ihre Buchung von {o} nach {d} am {date} ist {status}."),
        (Language::It, Some(r)) => format!("La tua prenotazione {r} da {o} a {d} il {date} è {status}."),
        (Language::It, None) => format!("La tua prenotazione da {o} a {d} il {date} è {status}."),
        (Language::Pt, Some(r)) => format!("A sua reserva {r} de {o} para {d} a {date} está {status}."),
        (Language::Pt, None) => format!("A sua reserva de {o} para {d} a {date} está {status}."),
    };
    if cancel && matches!(b.status, S::PendingPayment | S::Confirmed) {
        text.push(' ');
        text.push_str(match l {
            Language::En => "To cancel it, use Cancel on the booking; a paid booking is refunded.",
            Language::Es => "Para cancelarla, usa Cancelar en la reserva; si está pagada, se reembolsa.",
            Language::Fr => {
                "Pour l'annuler, utilisez Annuler sur la réservation ; une réservation payée est remboursée."
            }
            Language::De => "Zum Stornieren nutzen Sie „Stornieren“ an der Buchung; Bezahltes wird erstattet.",
            Language::It => "Per cancellarla, usa Cancella sulla prenotazione; se pagata, viene rimborsata.",
            Language::Pt => "Para a cancelar, use Cancelar na reserva; se estiver paga, é reembolsada.",
        });
    }
    text
}

/// Two to four quick replies that fit where the conversation is, in the
/// traveller's language. Each is a message the extractor understands.
pub fn suggested_replies(language: Language, state: &DialogueState, missing: &[Slot]) -> Vec<String> {
    let l = index(language);
    let pick = |table: &[[&str; 6]]| table.iter().map(|row| row[l].to_owned()).collect::<Vec<_>>();
    match state.stage {
        Stage::Results => pick(&[
            [
                "Book the cheapest",
                "Reservar el más barato",
                "Réserver le moins cher",
                "Den günstigsten buchen",
                "Prenota il più economico",
                "Reservar o mais barato",
            ],
            [
                "Only direct flights",
                "Solo vuelos directos",
                "Vols directs uniquement",
                "Nur Direktflüge",
                "Solo voli diretti",
                "Só voos diretos",
            ],
            ["The day after", "El día siguiente", "Le lendemain", "Am Tag danach", "Il giorno dopo", "No dia seguinte"],
            [
                "Evening flights",
                "Vuelos por la noche",
                "Vols le soir",
                "Flüge am Abend",
                "Voli di sera",
                "Voos à noite",
            ],
        ]),
        Stage::Selected => pick(&[
            ["Book it", "Resérvalo", "Réservez-le", "Buchen", "Prenotalo", "Reservar"],
            ["The second one", "La segunda", "La deuxième", "Die zweite", "La seconda", "A segunda"],
            [
                "Only direct flights",
                "Solo vuelos directos",
                "Vols directs uniquement",
                "Nur Direktflüge",
                "Solo voli diretti",
                "Só voos diretos",
            ],
        ]),
        Stage::TravellerDetails
            if matches!(state.pending, Some(PendingQuestion::ConfirmNewPrice | PendingQuestion::RetryBooking)) =>
        {
            pick(&[["Yes", "Sí", "Oui", "Ja", "Sì", "Sim"], ["No", "No", "Non", "Nein", "No", "Não"]])
        }
        Stage::TravellerDetails => pick(&[
            ["Cancel", "Cancelar", "Annuler", "Abbrechen", "Annulla", "Cancelar"],
            [
                "Search another flight",
                "Buscar otro vuelo",
                "Chercher un autre vol",
                "Anderen Flug suchen",
                "Cerca un altro volo",
                "Procurar outro voo",
            ],
        ]),
        Stage::Payment => pick(&[
            [
                "How is my booking?",
                "¿Cómo va mi reserva?",
                "Où en est ma réservation ?",
                "Wie steht es um meine Buchung?",
                "Come va la mia prenotazione?",
                "Como está a minha reserva?",
            ],
            ["Pay", "Pagar", "Payer", "Bezahlen", "Pagare", "Pagar"],
        ]),
        Stage::Confirmed => pick(&[
            [
                "How is my booking?",
                "¿Cómo va mi reserva?",
                "Où en est ma réservation ?",
                "Wie steht es um meine Buchung?",
                "Come va la mia prenotazione?",
                "Como está a minha reserva?",
            ],
            ["Thanks, bye", "Gracias, adiós", "Merci, au revoir", "Danke, tschüss", "Grazie, ciao", "Obrigado, adeus"],
        ]),
        Stage::Collecting => match missing.first() {
            Some(Slot::Destination) => pick(&[
                ["To London", "A Londres", "À Londres", "Nach London", "A Londra", "Para Londres"],
                ["To Paris", "A París", "À Paris", "Nach Paris", "A Parigi", "Para Paris"],
                ["To New York", "A Nueva York", "À New York", "Nach New York", "A New York", "Para Nova Iorque"],
            ]),
            Some(Slot::Origin) => pick(&[
                ["From Madrid", "Desde Madrid", "De Madrid", "Von Madrid", "Da Madrid", "De Madrid"],
                ["From Lisbon", "Desde Lisboa", "De Lisbonne", "Von Lissabon", "Da Lisbona", "De Lisboa"],
                ["From Berlin", "Desde Berlín", "De Berlin", "Von Berlin", "Da Berlino", "De Berlim"],
            ]),
            Some(Slot::DepartureDate) => pick(&[
                ["Tomorrow", "Mañana", "Demain", "Morgen", "Domani", "Amanhã"],
                [
                    "Next Friday",
                    "El próximo viernes",
                    "Vendredi prochain",
                    "Nächsten Freitag",
                    "Venerdì prossimo",
                    "Na próxima sexta",
                ],
                [
                    "Cheapest day next week",
                    "El día más barato de la semana que viene",
                    "Le jour le moins cher la semaine prochaine",
                    "Der günstigste Tag nächste Woche",
                    "Il giorno più economico la settimana prossima",
                    "O dia mais barato da próxima semana",
                ],
            ]),
            Some(Slot::ReturnDate) => pick(&[
                [
                    "A week later",
                    "Una semana después",
                    "Une semaine plus tard",
                    "Eine Woche später",
                    "Una settimana dopo",
                    "Uma semana depois",
                ],
                ["One way only", "Solo ida", "Aller simple", "Nur Hinflug", "Solo andata", "Só ida"],
            ]),
            Some(Slot::Passengers) => pick(&[
                ["1 child", "1 niño", "1 enfant", "1 Kind", "1 bambino", "1 criança"],
                ["2 children", "2 niños", "2 enfants", "2 Kinder", "2 bambini", "2 crianças"],
            ]),
            None if state.slots.origin.is_some() && state.slots.destination.is_some() => pick(&[
                [
                    "Search flights again",
                    "Buscar vuelos de nuevo",
                    "Rechercher des vols",
                    "Flüge neu suchen",
                    "Cerca di nuovo i voli",
                    "Procurar voos de novo",
                ],
                ["Help", "Ayuda", "Aide", "Hilfe", "Aiuto", "Ajuda"],
            ]),
            None => pick(&[
                [
                    "Madrid to London tomorrow",
                    "De Madrid a Londres mañana",
                    "De Paris à Londres demain",
                    "Von Berlin nach London morgen",
                    "Da Roma a Londra domani",
                    "De Lisboa para Londres amanhã",
                ],
                ["Help", "Ayuda", "Aide", "Hilfe", "Aiuto", "Ajuda"],
            ]),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::model::{Extraction, PendingQuestion};

    #[test]
    fn echoed_text_cannot_carry_markup() {
        let safe = inert("<script>alert(1)</script><img src=x onerror=y>");
        assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('='), "{safe}");
        assert!(inert(&"x".repeat(500)).chars().count() <= 40);
        assert_eq!(inert("  São   Paulo "), "São Paulo");
    }

    #[test]
    fn dates_read_as_each_language_writes_them() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 20).expect("date");
        assert_eq!(format_date(d, Language::En), "December 20");
        assert_eq!(format_date(d, Language::Es), "20 de diciembre");
        assert_eq!(format_date(d, Language::De), "20. Dezember");
        let first = NaiveDate::from_ymd_opt(2027, 6, 1).expect("date");
        assert_eq!(format_date(first, Language::Fr), "1er juin");
    }

    #[test]
    fn places_are_named_in_the_travellers_language() {
        assert_eq!(place_name("LON", Language::Es), "Londres");
        assert_eq!(place_name("LHR", Language::It), "Londra (LHR)");
    }

    #[test]
    fn every_stage_offers_two_to_four_chips_in_every_language() {
        let slots = [
            None,
            Some(Slot::Origin),
            Some(Slot::Destination),
            Some(Slot::DepartureDate),
            Some(Slot::ReturnDate),
            Some(Slot::Passengers),
        ];
        for language in Language::ALL {
            for stage in [
                Stage::Collecting,
                Stage::Results,
                Stage::Selected,
                Stage::TravellerDetails,
                Stage::Payment,
                Stage::Confirmed,
            ] {
                for slot in slots {
                    let state = DialogueState { stage, ..DialogueState::default() };
                    let missing: Vec<Slot> = slot.into_iter().collect();
                    let chips = suggested_replies(language, &state, &missing);
                    assert!((2..=4).contains(&chips.len()), "{language:?} {stage:?} {slot:?}");
                    assert!(chips.iter().all(|c| !c.is_empty()));
                }
            }
        }
    }

    /// A chip is a message the traveller sends by tapping it: the built-in
    /// engine must understand each one, in each language, as what it says.
    #[test]
    fn every_chip_is_understood_as_what_it_says() {
        use crate::chat::extract::{ExtractContext, extract};
        use crate::chat::model::{DateMention, OfferChoice, TripKind};
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).expect("date");
        let departure = NaiveDate::from_ymd_opt(2026, 12, 10).expect("date");
        for language in Language::ALL {
            let results = DialogueState { stage: Stage::Results, ..DialogueState::default() };
            let chips = suggested_replies(language, &results, &[]);
            let context = |pending| ExtractContext {
                language: Some(language),
                locale: Some(language.code()),
                today,
                pending,
                offers_shown: true,
                current_departure: Some(departure),
            };
            let understood: Vec<Extraction> = chips.iter().map(|c| extract(c, &context(None))).collect();
            assert!(
                matches!(understood[0].offer_choice, Some(OfferChoice::Cheapest)),
                "{language:?} {:?}: {:?}",
                chips[0],
                understood[0]
            );
            assert_eq!(understood[1].non_stop, Some(true), "{language:?} {:?}", chips[1]);
            assert_eq!(understood[2].departure, Some(DateMention::Shift(1)), "{language:?} {:?}", chips[2]);
            assert!(understood[3].time_of_day.is_some(), "{language:?} {:?}", chips[3]);
            for chip in &chips {
                assert_eq!(extract(chip, &context(None)).language, language, "{chip:?} reads as {language:?}");
            }
            let selected = DialogueState { stage: Stage::Selected, ..DialogueState::default() };
            let book = &suggested_replies(language, &selected, &[])[0];
            let e = extract(book, &context(None));
            assert_eq!((e.intent, e.offer_choice), (Some(Intent::Book), Some(OfferChoice::Current)), "{book:?}");

            let collecting = DialogueState::default();
            let asks = |slot: Slot| suggested_replies(language, &collecting, &[slot]);
            let pending = PendingQuestion::Slot(Slot::Destination);
            for chip in asks(Slot::Destination) {
                let e = extract(&chip, &context(Some(&pending)));
                assert!(e.destination.is_some() || e.place.is_some(), "{chip:?}: {e:?}");
            }
            let pending = PendingQuestion::Slot(Slot::Origin);
            for chip in asks(Slot::Origin) {
                let e = extract(&chip, &context(Some(&pending)));
                assert!(e.origin.is_some() || e.place.is_some(), "{chip:?}: {e:?}");
            }
            let pending = PendingQuestion::Slot(Slot::DepartureDate);
            let dates = asks(Slot::DepartureDate);
            for chip in &dates[..2] {
                let e = extract(chip, &context(Some(&pending)));
                assert!(matches!(e.departure, Some(DateMention::Day(_))), "{chip:?}: {e:?}");
            }
            let e = extract(&dates[2], &context(Some(&pending)));
            assert!(matches!(e.departure, Some(DateMention::Range { .. })), "{:?}: {e:?}", dates[2]);
            let pending = PendingQuestion::Slot(Slot::ReturnDate);
            let returns = asks(Slot::ReturnDate);
            let e = extract(&returns[0], &context(Some(&pending)));
            assert!(e.return_date.is_some(), "{:?}: {e:?}", returns[0]);
            let e = extract(&returns[1], &context(Some(&pending)));
            assert_eq!(e.trip, Some(TripKind::OneWay), "{:?}: {e:?}", returns[1]);
            let pending = PendingQuestion::Slot(Slot::Passengers);
            for (n, chip) in asks(Slot::Passengers).iter().enumerate() {
                let e = extract(chip, &context(Some(&pending)));
                assert_eq!(e.passengers.children, Some(n as u8 + 1), "{chip:?}: {e:?}");
            }

            // The booking's chips, while a name is asked, a price confirmed, a payment awaited.
            let in_stage = |stage, pending: Option<PendingQuestion>| {
                let state = DialogueState { stage, pending, ..DialogueState::default() };
                suggested_replies(language, &state, &[])
            };
            let name = PendingQuestion::TravellerName { traveller: 0 };
            let chips = in_stage(Stage::TravellerDetails, Some(name.clone()));
            let e = extract(&chips[0], &context(Some(&name)));
            assert_eq!((e.intent, e.details.is_none()), (Some(Intent::CancelBooking), true), "{:?}: {e:?}", chips[0]);
            let e = extract(&chips[1], &context(Some(&name)));
            assert_eq!((e.intent, e.details.is_none()), (Some(Intent::SearchFlights), true), "{:?}: {e:?}", chips[1]);
            let price = PendingQuestion::ConfirmNewPrice;
            let chips = in_stage(Stage::TravellerDetails, Some(price.clone()));
            assert_eq!(extract(&chips[0], &context(Some(&price))).affirmation, Some(true), "{:?}", chips[0]);
            assert_eq!(extract(&chips[1], &context(Some(&price))).affirmation, Some(false), "{:?}", chips[1]);
            let unpaid = DialogueState { stage: Stage::Payment, ..DialogueState::default() };
            let for_booking = |chip: &String| {
                let context = ExtractContext::for_state(&unpaid, Some(language.code()), today);
                extract(chip, &context)
            };
            for (stage, second) in [(Stage::Payment, Intent::Pay), (Stage::Confirmed, Intent::Goodbye)] {
                let chips = in_stage(stage, None);
                assert_eq!(for_booking(&chips[0]).intent, Some(Intent::BookingStatus), "{:?}", chips[0]);
                assert_eq!(for_booking(&chips[1]).intent, Some(second), "{:?}", chips[1]);
                assert!(chips.iter().all(|c| for_booking(c).language == language), "{chips:?}");
            }
            let mut gone = DialogueState::default();
            gone.slots.origin = Some("LON".into());
            gone.slots.destination = Some("MAD".into());
            let again = &suggested_replies(language, &gone, &[])[0];
            let e = extract(again, &ExtractContext::for_state(&gone, Some(language.code()), today));
            assert_eq!((e.intent, e.language), (Some(Intent::SearchFlights), language), "{again:?}");
        }
    }
}
