//! The booking's words, in each of the six languages: the questions for
//! traveller details, why an answer was not taken, how a name was read, and
//! what happened to the booking (held with its payment link, confirmed with
//! the airline reference, lapsed, refused).
//!
//! Names are repeated back as the traveller wrote them: they have passed the
//! booking's name rule (letters, spaces, hyphens, apostrophes) before they
//! are kept, so they cannot carry markup. A payment link is the payment
//! provider's URL, never traveller text.

use chrono::NaiveDate;

use super::{format_date, format_money, index, place_name};
use crate::booking::model::BookingStatus;
use crate::chat::model::{BookingDraft, DetailProblem, DialogueState, Language, NextStep, PendingQuestion};
use crate::flights::model::{Money, PassengerType};

/// What happened to the booking, for the reply to tell.
#[derive(Debug, Clone, PartialEq)]
pub enum BookingNews {
    /// Held, waiting for payment. `fresh` when it was just made.
    AwaitingPayment {
        /// Just made (else a reminder).
        fresh: bool,
        /// The hosted payment page, when it could be opened.
        url: Option<String>,
        /// Until when paying settles it, local time ("16:05").
        until: String,
        /// What it costs.
        total: Money,
    },
    /// Paid and confirmed by the airline.
    Confirmed {
        /// The airline's reference.
        reference: String,
        /// Origin and destination codes.
        route: (String, String),
        /// The first flight's day.
        date: NaiveDate,
    },
    /// It ended without being paid, or failed.
    Ended(BookingStatus),
    /// The offer cannot be booked any more.
    OfferGone,
    /// The airline could not be reached; nothing was booked (a retry is asked).
    AirlineUnavailable,
    /// Something failed on our side; nothing was booked (a retry is asked).
    NotBooked,
    /// The airline refused the details; they are asked again.
    DetailsRefused,
    /// The price changed: the question in `pending` asks whether to book at the new one.
    PriceChanged,
}

fn travellers_phrase(l: Language, passengers: &[PassengerType]) -> String {
    let count = |kind| passengers.iter().filter(|p| **p == kind).count();
    let words: [(&str, &str); 3] = match l {
        Language::En => [("adult", "adults"), ("child", "children"), ("infant", "infants")],
        Language::Es => [("adulto", "adultos"), ("niño", "niños"), ("bebé", "bebés")],
        Language::Fr => [("adulte", "adultes"), ("enfant", "enfants"), ("bébé", "bébés")],
        Language::De => [("Erwachsenen", "Erwachsene"), ("Kind", "Kinder"), ("Kleinkind", "Kleinkinder")],
        Language::It => [("adulto", "adulti"), ("bambino", "bambini"), ("neonato", "neonati")],
        Language::Pt => [("adulto", "adultos"), ("criança", "crianças"), ("bebé", "bebés")],
    };
    let parts: Vec<String> = [PassengerType::Adult, PassengerType::Child, PassengerType::Infant]
        .into_iter()
        .zip(words)
        .filter_map(|(kind, (one, many))| match count(kind) {
            0 => None,
            1 => Some(format!("1 {one}")),
            n => Some(format!("{n} {many}")),
        })
        .collect();
    let and = ["and", "y", "et", "und", "e", "e"][index(l)];
    match parts.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {and} {last}", init.join(", ")),
    }
}

fn age_phrase(l: Language, age: i32) -> String {
    match (l, age) {
        (Language::En, 0) => "under 1 year old".into(),
        (Language::En, 1) => "1 year old".into(),
        (Language::En, n) => format!("{n} years old"),
        (Language::Es, 0) => "menos de un año".into(),
        (Language::Es, 1) => "1 año".into(),
        (Language::Es, n) => format!("{n} años"),
        (Language::Fr, 0) => "moins d'un an".into(),
        (Language::Fr, 1) => "1 an".into(),
        (Language::Fr, n) => format!("{n} ans"),
        (Language::De, 0) => "unter einem Jahr alt".into(),
        (Language::De, 1) => "1 Jahr alt".into(),
        (Language::De, n) => format!("{n} Jahre alt"),
        (Language::It, 0) => "meno di un anno".into(),
        (Language::It, 1) => "1 anno".into(),
        (Language::It, n) => format!("{n} anni"),
        (Language::Pt, 0) => "menos de um ano".into(),
        (Language::Pt, 1) => "1 ano".into(),
        (Language::Pt, n) => format!("{n} anos"),
    }
}

/// "the traveller", "traveller 2 of 3" — in the genitive the questions need.
fn whose(l: Language, traveller: usize, of: usize) -> String {
    let n = traveller + 1;
    match (l, of) {
        (Language::En, 1) => "the traveller".into(),
        (Language::En, _) => format!("traveller {n} of {of}"),
        (Language::Es, 1) => "del viajero".into(),
        (Language::Es, _) => format!("del viajero {n} de {of}"),
        (Language::Fr, 1) => "du voyageur".into(),
        (Language::Fr, _) => format!("du voyageur {n} sur {of}"),
        (Language::De, 1) => "des Reisenden".into(),
        (Language::De, _) => format!("des {n}. Reisenden (von {of})"),
        (Language::It, 1) => "del viaggiatore".into(),
        (Language::It, _) => format!("del viaggiatore {n} di {of}"),
        (Language::Pt, 1) => "do viajante".into(),
        (Language::Pt, _) => format!("do viajante {n} de {of}"),
    }
}

/// A traveller's given name once known, else who they are ("traveller 2 of 3").
fn called(l: Language, draft: &BookingDraft, traveller: usize) -> String {
    match draft.travellers.get(traveller).and_then(|t| t.first_name.clone()) {
        Some(name) => name,
        None => {
            let n = traveller + 1;
            match l {
                Language::En => format!("traveller {n}"),
                Language::Es => format!("el viajero {n}"),
                Language::Fr => format!("le voyageur {n}"),
                Language::De => format!("Reisender {n}"),
                Language::It => format!("il viaggiatore {n}"),
                Language::Pt => format!("o viajante {n}"),
            }
        }
    }
}

/// The question in `state.pending`, about the booking in `state.booking`.
pub fn question(l: Language, state: &DialogueState) -> String {
    let empty = BookingDraft::default();
    let draft = state.booking.as_ref().unwrap_or(&empty);
    let of = draft.travellers.len().max(1);
    match &state.pending {
        Some(PendingQuestion::TravellerName { traveller }) => {
            let who = whose(l, *traveller, of);
            match (l, of) {
                (Language::En, 1) => {
                    "What is the traveller's full name, as in the passport (first name and surname)?".to_owned()
                }
                (Language::En, _) => format!("What is the full name of {who}, as in the passport?"),
                (Language::Es, 1) => {
                    format!("¿Cuál es el nombre completo {who}, como en el pasaporte (nombre y apellidos)?")
                }
                (Language::Es, _) => format!("¿Cuál es el nombre completo {who}, como en el pasaporte?"),
                (Language::Fr, 1) => format!("Quel est le nom complet {who}, comme sur le passeport (prénom et nom) ?"),
                (Language::Fr, _) => format!("Quel est le nom complet {who}, comme sur le passeport ?"),
                (Language::De, 1) => {
                    format!("Wie lautet der vollständige Name {who} laut Reisepass (Vor- und Nachname)?")
                }
                (Language::De, _) => format!("Wie lautet der vollständige Name {who} laut Reisepass?"),
                (Language::It, 1) => format!("Qual è il nome completo {who}, come sul passaporto (nome e cognome)?"),
                (Language::It, _) => format!("Qual è il nome completo {who}, come sul passaporto?"),
                (Language::Pt, 1) => format!("Qual é o nome completo {who}, como no passaporte (nome e apelidos)?"),
                (Language::Pt, _) => format!("Qual é o nome completo {who}, como no passaporte?"),
            }
        }
        Some(PendingQuestion::TravellerSurname { traveller }) => {
            let name = called(l, draft, *traveller);
            match l {
                Language::En => format!("And {name}'s surname, as in the passport?"),
                Language::Es => format!("¿Y los apellidos de {name}, como en el pasaporte?"),
                Language::Fr => format!("Et le nom de famille de {name}, comme sur le passeport ?"),
                Language::De => format!("Und der Nachname von {name} laut Reisepass?"),
                Language::It => format!("E il cognome di {name}, come sul passaporto?"),
                Language::Pt => format!("E os apelidos de {name}, como no passaporte?"),
            }
        }
        Some(PendingQuestion::BirthDate { traveller }) => {
            let name = called(l, draft, *traveller);
            let format = match (l, draft.month_first) {
                (Language::En, true) => "MM/DD/YYYY",
                (Language::En, false) => "DD/MM/YYYY",
                (Language::Es | Language::Pt, _) => "dd/mm/aaaa",
                (Language::Fr, _) => "jj/mm/aaaa",
                (Language::De, _) => "TT.MM.JJJJ",
                (Language::It, _) => "gg/mm/aaaa",
            };
            match l {
                Language::En => format!("What is {name}'s date of birth? ({format})"),
                Language::Es => format!("¿Cuál es la fecha de nacimiento de {name}? ({format})"),
                Language::Fr => format!("Quelle est la date de naissance de {name} ? ({format})"),
                Language::De => format!("Wann ist {name} geboren? ({format})"),
                Language::It => format!("Qual è la data di nascita di {name}? ({format})"),
                Language::Pt => format!("Qual é a data de nascimento de {name}? ({format})"),
            }
        }
        Some(PendingQuestion::ContactEmail) => match l {
            Language::En => "Last thing: which e-mail address should the confirmation go to?",
            Language::Es => "Por último: ¿a qué correo electrónico envío la confirmación?",
            Language::Fr => "Dernière chose : à quelle adresse e-mail dois-je envoyer la confirmation ?",
            Language::De => "Zum Schluss: An welche E-Mail-Adresse soll die Bestätigung gehen?",
            Language::It => "Ultima cosa: a quale indirizzo e-mail invio la conferma?",
            Language::Pt => "Por último: para que e-mail envio a confirmação?",
        }
        .to_owned(),
        Some(PendingQuestion::ConfirmNewPrice) => {
            let old = draft.price.as_ref().map(|m| format_money(m, l)).unwrap_or_default();
            let new = draft.new_price.as_ref().map(|m| format_money(m, l)).unwrap_or_default();
            match l {
                Language::En => format!(
                    "The airline's price for this flight has changed from {old} to {new}. Shall I book it at the new price?"
                ),
                Language::Es => format!(
                    "La aerolínea ha cambiado el precio de este vuelo de {old} a {new}. ¿Lo reservo al nuevo precio?"
                ),
                Language::Fr => format!(
                    "La compagnie a modifié le prix de ce vol : {new} au lieu de {old}. Je le réserve au nouveau prix ?"
                ),
                Language::De => format!(
                    "Die Airline hat den Preis dieses Flugs von {old} auf {new} geändert. Soll ich zum neuen Preis buchen?"
                ),
                Language::It => format!(
                    "La compagnia ha cambiato il prezzo di questo volo da {old} a {new}. Lo prenoto al nuovo prezzo?"
                ),
                Language::Pt => {
                    format!("A companhia alterou o preço deste voo de {old} para {new}. Reservo ao novo preço?")
                }
            }
        }
        Some(PendingQuestion::RetryBooking) => match l {
            Language::En => "Shall I try again?",
            Language::Es => "¿Lo intento de nuevo?",
            Language::Fr => "Voulez-vous que je réessaie ?",
            Language::De => "Soll ich es noch einmal versuchen?",
            Language::It => "Vuoi che riprovi?",
            Language::Pt => "Tento de novo?",
        }
        .to_owned(),
        _ => String::new(),
    }
}

fn problem_text(l: Language, problem: &DetailProblem, draft: &BookingDraft) -> String {
    match problem {
        DetailProblem::NotUnderstood => match l {
            Language::En => "Sorry, I didn't get that.",
            Language::Es => "Perdona, no lo he entendido.",
            Language::Fr => "Pardon, je n'ai pas compris.",
            Language::De => "Entschuldigung, das habe ich nicht verstanden.",
            Language::It => "Scusa, non ho capito.",
            Language::Pt => "Desculpe, não percebi.",
        }
        .to_owned(),
        DetailProblem::InvalidName => match l {
            Language::En => "A name can only have letters, spaces, hyphens and apostrophes, up to 50 characters.",
            Language::Es => "Un nombre solo puede llevar letras, espacios, guiones y apóstrofos, hasta 50 caracteres.",
            Language::Fr => {
                "Un nom ne peut contenir que des lettres, des espaces, des traits d'union et des apostrophes, 50 caractères au plus."
            }
            Language::De => {
                "Ein Name darf nur Buchstaben, Leerzeichen, Bindestriche und Apostrophe enthalten, höchstens 50 Zeichen."
            }
            Language::It => "Un nome può contenere solo lettere, spazi, trattini e apostrofi, fino a 50 caratteri.",
            Language::Pt => "Um nome só pode ter letras, espaços, hífenes e apóstrofos, até 50 caracteres.",
        }
        .to_owned(),
        DetailProblem::BirthDateWithoutYear => match l {
            Language::En => "I need the year of birth too.",
            Language::Es => "Necesito también el año de nacimiento.",
            Language::Fr => "Il me faut aussi l'année de naissance.",
            Language::De => "Ich brauche auch das Geburtsjahr.",
            Language::It => "Mi serve anche l'anno di nascita.",
            Language::Pt => "Preciso também do ano de nascimento.",
        }
        .to_owned(),
        DetailProblem::ImpossibleDate => match l {
            Language::En => "That date does not exist.",
            Language::Es => "Esa fecha no existe.",
            Language::Fr => "Cette date n'existe pas.",
            Language::De => "Dieses Datum gibt es nicht.",
            Language::It => "Questa data non esiste.",
            Language::Pt => "Essa data não existe.",
        }
        .to_owned(),
        DetailProblem::BirthDateInFuture => match l {
            Language::En => "That date of birth is in the future.",
            Language::Es => "Esa fecha de nacimiento es futura.",
            Language::Fr => "Cette date de naissance est dans le futur.",
            Language::De => "Dieses Geburtsdatum liegt in der Zukunft.",
            Language::It => "Questa data di nascita è nel futuro.",
            Language::Pt => "Essa data de nascimento é no futuro.",
        }
        .to_owned(),
        DetailProblem::BirthDateTooLongAgo => match l {
            Language::En => "That date of birth is more than 120 years ago.",
            Language::Es => "Esa fecha de nacimiento es de hace más de 120 años.",
            Language::Fr => "Cette date de naissance remonte à plus de 120 ans.",
            Language::De => "Dieses Geburtsdatum liegt mehr als 120 Jahre zurück.",
            Language::It => "Questa data di nascita risale a più di 120 anni fa.",
            Language::Pt => "Essa data de nascimento é de há mais de 120 anos.",
        }
        .to_owned(),
        DetailProblem::AgeDoesNotFit { traveller, age, on } => {
            let name = called(l, draft, *traveller);
            let age = age_phrase(l, *age);
            let date = format_date(*on, l);
            let travellers = travellers_phrase(l, &draft.passengers);
            match l {
                Language::En => format!(
                    "With that date of birth {name} would be {age} on {date}, and this booking is for {travellers}."
                ),
                Language::Es => format!(
                    "Con esa fecha de nacimiento, {name} tendría {age} el {date}, y esta reserva es para {travellers}."
                ),
                Language::Fr => format!(
                    "Avec cette date de naissance, {name} aurait {age} le {date}, et cette réservation est pour {travellers}."
                ),
                Language::De => format!(
                    "Mit diesem Geburtsdatum wäre {name} am {date} {age}, und diese Buchung ist für {travellers}."
                ),
                Language::It => format!(
                    "Con questa data di nascita, {name} avrebbe {age} il {date}, e questa prenotazione è per {travellers}."
                ),
                Language::Pt => format!(
                    "Com essa data de nascimento, {name} teria {age} a {date}, e esta reserva é para {travellers}."
                ),
            }
        }
        DetailProblem::InvalidEmail => match l {
            Language::En => "That doesn't look like an e-mail address (like ana@example.com).",
            Language::Es => "Eso no parece un correo electrónico (por ejemplo, ana@example.com).",
            Language::Fr => "Cela ne ressemble pas à une adresse e-mail (par exemple ana@example.com).",
            Language::De => "Das sieht nicht nach einer E-Mail-Adresse aus (etwa ana@example.com).",
            Language::It => "Non sembra un indirizzo e-mail (ad esempio ana@example.com).",
            Language::Pt => "Isso não parece um e-mail (por exemplo, ana@example.com).",
        }
        .to_owned(),
        DetailProblem::InvalidPhone => match l {
            Language::En => "A phone number needs its country code, like +44 20 7946 0958.",
            Language::Es => "Un teléfono necesita el prefijo del país, como +34 600 000 000.",
            Language::Fr => "Un numéro de téléphone doit commencer par l'indicatif du pays, comme +33 6 12 34 56 78.",
            Language::De => "Eine Telefonnummer braucht die Landesvorwahl, etwa +49 151 2345678.",
            Language::It => "Un numero di telefono deve avere il prefisso internazionale, come +39 312 345 6789.",
            Language::Pt => "Um número de telefone precisa do indicativo do país, como +351 912 345 678.",
        }
        .to_owned(),
    }
}

fn noted(l: Language, draft: &BookingDraft, traveller: usize, guessed: bool) -> String {
    let Some(t) = draft.travellers.get(traveller) else { return String::new() };
    let (first, last) = (t.first_name.as_deref().unwrap_or(""), t.last_name.as_deref().unwrap_or(""));
    let mut text = match l {
        Language::En => format!("Got it: first name {first}, surname {last}."),
        Language::Es => format!("Apuntado: nombre {first}, apellidos {last}."),
        Language::Fr => format!("C'est noté : prénom {first}, nom {last}."),
        Language::De => format!("Notiert: Vorname {first}, Nachname {last}."),
        Language::It => format!("Preso nota: nome {first}, cognome {last}."),
        Language::Pt => format!("Anotado: nome {first}, apelidos {last}."),
    };
    if guessed {
        text.push(' ');
        text.push_str(match l {
            Language::En => "(If that's not right, write it as “first names / surnames”.)",
            Language::Es => "(Si no es así, escríbelo como «nombre / apellidos».)",
            Language::Fr => "(Si ce n'est pas ça, écrivez « prénoms / noms ».)",
            Language::De => "(Falls das nicht stimmt, schreiben Sie „Vornamen / Nachnamen“.)",
            Language::It => "(Se non è così, scrivilo come «nomi / cognomi».)",
            Language::Pt => "(Se não estiver certo, escreva «nomes / apelidos».)",
        });
    }
    text
}

/// Two sentences as one reply.
fn then(first: String, second: String) -> String {
    match (first.is_empty(), second.is_empty()) {
        (true, _) => second,
        (_, true) => first,
        _ => format!("{first} {second}"),
    }
}

/// The reply to a booking step of the dialogue.
pub(super) fn step(l: Language, step: &NextStep, state: &DialogueState) -> String {
    let empty = BookingDraft::default();
    let draft = state.booking.as_ref().unwrap_or(&empty);
    match step {
        NextStep::Book { index } => {
            let n = index + 1;
            let route = match (&state.slots.origin, &state.slots.destination) {
                (Some(o), Some(d)) => format!("{} → {}", place_name(o, l), place_name(d, l)),
                _ => String::new(),
            };
            let date = draft.travel_dates.first().map(|d| format_date(*d, l)).unwrap_or_default();
            let travellers = travellers_phrase(l, &draft.passengers);
            let price = draft.price.as_ref().map(|p| format_money(p, l)).unwrap_or_default();
            let intro = match l {
                Language::En => format!(
                    "Let's book option {n}: {route}, {date}, for {travellers}, {price} in total. I'll need a few details, exactly as in the passport."
                ),
                Language::Es => format!(
                    "Vamos a reservar la opción {n}: {route}, el {date}, para {travellers}, {price} en total. Necesito unos datos, tal como aparecen en el pasaporte."
                ),
                Language::Fr => format!(
                    "Réservons l'option {n} : {route}, le {date}, pour {travellers}, {price} au total. Il me faut quelques informations, exactement comme sur le passeport."
                ),
                Language::De => format!(
                    "Buchen wir Option {n}: {route}, am {date}, für {travellers}, insgesamt {price}. Ich brauche ein paar Angaben, genau wie im Reisepass."
                ),
                Language::It => format!(
                    "Prenotiamo l'opzione {n}: {route}, il {date}, per {travellers}, {price} in totale. Mi servono alcuni dati, esattamente come sul passaporto."
                ),
                Language::Pt => format!(
                    "Vamos reservar a opção {n}: {route}, a {date}, para {travellers}, {price} no total. Preciso de alguns dados, tal como no passaporte."
                ),
            };
            then(intro, question(l, state))
        }
        NextStep::AskDetail { problem, noted_name, split_guessed } => {
            let before = match (problem, noted_name) {
                (Some(problem), _) => problem_text(l, problem, draft),
                (None, Some(traveller)) => noted(l, draft, *traveller, *split_guessed),
                (None, None) => String::new(),
            };
            // A name taken beside a refused answer is still worth saying.
            let before = match (problem, noted_name) {
                (Some(_), Some(traveller)) => then(noted(l, draft, *traveller, *split_guessed), before),
                _ => before,
            };
            then(before, question(l, state))
        }
        NextStep::CreateBooking => match l {
            Language::En => "Booking it now…",
            Language::Es => "Lo reservo ahora…",
            Language::Fr => "Je réserve…",
            Language::De => "Ich buche jetzt…",
            Language::It => "Prenoto ora…",
            Language::Pt => "Estou a reservar…",
        }
        .to_owned(),
        NextStep::LeaveBooking => match l {
            Language::En => {
                "All right, I've stopped there — nothing was booked. Pick another flight or change the search."
            }
            Language::Es => {
                "De acuerdo, lo dejo aquí: no se ha reservado nada. Elige otro vuelo o cambia la búsqueda."
            }
            Language::Fr => {
                "D'accord, j'arrête là : rien n'a été réservé. Choisissez un autre vol ou modifiez la recherche."
            }
            Language::De => {
                "Alles klar, ich höre hier auf – es wurde nichts gebucht. Wählen Sie einen anderen Flug oder ändern Sie die Suche."
            }
            Language::It => {
                "Va bene, mi fermo qui: non è stato prenotato nulla. Scegli un altro volo o cambia la ricerca."
            }
            Language::Pt => "Muito bem, fico por aqui: nada foi reservado. Escolha outro voo ou altere a pesquisa.",
        }
        .to_owned(),
        _ => String::new(),
    }
}

/// What happened to the booking; with the question asked next when there is one.
pub fn news(l: Language, news: &BookingNews, state: &DialogueState) -> String {
    match news {
        BookingNews::AwaitingPayment { fresh, url: Some(url), until, total } => {
            let total = format_money(total, l);
            match (l, fresh) {
                (Language::En, true) => format!(
                    "Done — your seats are held until {until}. The total is {total}; pay securely here: {url} — I'll confirm the booking as soon as the payment arrives."
                ),
                (Language::En, false) => {
                    format!("Your booking is held until {until} and waiting for payment ({total}): {url}")
                }
                (Language::Es, true) => format!(
                    "Hecho: tus plazas están reservadas hasta las {until}. El total es {total}; paga de forma segura aquí: {url} — te confirmo la reserva en cuanto llegue el pago."
                ),
                (Language::Es, false) => {
                    format!("Tu reserva está guardada hasta las {until} y pendiente de pago ({total}): {url}")
                }
                (Language::Fr, true) => format!(
                    "C'est fait : vos places sont retenues jusqu'à {until}. Le total est de {total} ; payez en toute sécurité ici : {url} — je confirme la réservation dès réception du paiement."
                ),
                (Language::Fr, false) => {
                    format!("Votre réservation est retenue jusqu'à {until} et attend le paiement ({total}) : {url}")
                }
                (Language::De, true) => format!(
                    "Erledigt – Ihre Plätze sind bis {until} Uhr reserviert. Der Gesamtpreis beträgt {total}; bezahlen Sie sicher hier: {url} – sobald die Zahlung eingeht, bestätige ich die Buchung."
                ),
                (Language::De, false) => {
                    format!("Ihre Buchung ist bis {until} Uhr reserviert und wartet auf die Zahlung ({total}): {url}")
                }
                (Language::It, true) => format!(
                    "Fatto: i tuoi posti sono bloccati fino alle {until}. Il totale è {total}; paga in modo sicuro qui: {url} — confermo la prenotazione appena arriva il pagamento."
                ),
                (Language::It, false) => {
                    format!("La tua prenotazione è bloccata fino alle {until} e in attesa di pagamento ({total}): {url}")
                }
                (Language::Pt, true) => format!(
                    "Feito: os seus lugares estão reservados até às {until}. O total é {total}; pague em segurança aqui: {url} — confirmo a reserva assim que o pagamento chegar."
                ),
                (Language::Pt, false) => {
                    format!("A sua reserva está guardada até às {until} e aguarda pagamento ({total}): {url}")
                }
            }
        }
        BookingNews::AwaitingPayment { url: None, until, total, .. } => {
            let total = format_money(total, l);
            match l {
                Language::En => format!(
                    "Your seats are held until {until} ({total}), but I couldn't open the payment page just now. Write “pay” to try again."
                ),
                Language::Es => format!(
                    "Tus plazas están reservadas hasta las {until} ({total}), pero ahora mismo no he podido abrir la página de pago. Escribe «pagar» para intentarlo de nuevo."
                ),
                Language::Fr => format!(
                    "Vos places sont retenues jusqu'à {until} ({total}), mais je n'ai pas pu ouvrir la page de paiement pour l'instant. Écrivez « payer » pour réessayer."
                ),
                Language::De => format!(
                    "Ihre Plätze sind bis {until} Uhr reserviert ({total}), aber die Zahlungsseite ließ sich gerade nicht öffnen. Schreiben Sie „bezahlen“, um es erneut zu versuchen."
                ),
                Language::It => format!(
                    "I tuoi posti sono bloccati fino alle {until} ({total}), ma al momento non riesco ad aprire la pagina di pagamento. Scrivi «pagare» per riprovare."
                ),
                Language::Pt => format!(
                    "Os seus lugares estão reservados até às {until} ({total}), mas não consegui abrir a página de pagamento agora. Escreva «pagar» para tentar de novo."
                ),
            }
        }
        BookingNews::Confirmed { reference, route, date } => {
            let (o, d) = (place_name(&route.0, l), place_name(&route.1, l));
            let date = format_date(*date, l);
            let reference = super::inert(reference);
            match l {
                Language::En => format!(
                    "Payment received — your booking is confirmed! Airline reference: {reference} ({o} → {d}, {date}). Have a good trip!"
                ),
                Language::Es => format!(
                    "¡Pago recibido: tu reserva está confirmada! Localizador de la aerolínea: {reference} ({o} → {d}, {date}). ¡Buen viaje!"
                ),
                Language::Fr => format!(
                    "Paiement reçu : votre réservation est confirmée ! Référence de la compagnie : {reference} ({o} → {d}, {date}). Bon voyage !"
                ),
                Language::De => format!(
                    "Zahlung erhalten – Ihre Buchung ist bestätigt! Buchungscode der Airline: {reference} ({o} → {d}, {date}). Gute Reise!"
                ),
                Language::It => format!(
                    "Pagamento ricevuto: la tua prenotazione è confermata! Codice della compagnia: {reference} ({o} → {d}, {date}). Buon viaggio!"
                ),
                Language::Pt => format!(
                    "Pagamento recebido: a sua reserva está confirmada! Referência da companhia: {reference} ({o} → {d}, {date}). Boa viagem!"
                ),
            }
        }
        BookingNews::Ended(status) => match (status, l) {
            (BookingStatus::Expired, Language::En) => {
                "The booking expired before it was paid, so nothing was charged. Shall we search again?"
            }
            (BookingStatus::Expired, Language::Es) => {
                "La reserva caducó antes de pagarse, así que no se ha cobrado nada. ¿Buscamos de nuevo?"
            }
            (BookingStatus::Expired, Language::Fr) => {
                "La réservation a expiré avant le paiement ; rien n'a été débité. On relance la recherche ?"
            }
            (BookingStatus::Expired, Language::De) => {
                "Die Buchung ist abgelaufen, bevor sie bezahlt wurde; es wurde nichts abgebucht. Sollen wir neu suchen?"
            }
            (BookingStatus::Expired, Language::It) => {
                "La prenotazione è scaduta prima del pagamento, quindi non è stato addebitato nulla. Cerchiamo di nuovo?"
            }
            (BookingStatus::Expired, Language::Pt) => {
                "A reserva expirou antes de ser paga, por isso nada foi cobrado. Procuramos de novo?"
            }
            (BookingStatus::Cancelled, Language::En) => "The booking was cancelled. Shall we look for another flight?",
            (BookingStatus::Cancelled, Language::Es) => "La reserva se ha cancelado. ¿Buscamos otro vuelo?",
            (BookingStatus::Cancelled, Language::Fr) => "La réservation a été annulée. On cherche un autre vol ?",
            (BookingStatus::Cancelled, Language::De) => {
                "Die Buchung wurde storniert. Sollen wir einen anderen Flug suchen?"
            }
            (BookingStatus::Cancelled, Language::It) => "La prenotazione è stata cancellata. Cerchiamo un altro volo?",
            (BookingStatus::Cancelled, Language::Pt) => "A reserva foi cancelada. Procuramos outro voo?",
            (_, Language::En) => {
                "The booking could not be completed; anything charged is refunded. Shall we search again?"
            }
            (_, Language::Es) => {
                "No se ha podido completar la reserva; si se cobró algo, se reembolsa. ¿Buscamos de nuevo?"
            }
            (_, Language::Fr) => {
                "La réservation n'a pas pu aboutir ; tout montant débité est remboursé. On relance la recherche ?"
            }
            (_, Language::De) => {
                "Die Buchung kam nicht zustande; Abgebuchtes wird erstattet. Sollen wir neu suchen?"
            }
            (_, Language::It) => {
                "Non è stato possibile completare la prenotazione; quanto addebitato viene rimborsato. Cerchiamo di nuovo?"
            }
            (_, Language::Pt) => {
                "Não foi possível concluir a reserva; o que tiver sido cobrado é reembolsado. Procuramos de novo?"
            }
        }
        .to_owned(),
        BookingNews::OfferGone => match l {
            Language::En => "Sorry, that offer is no longer available. Shall I search again?",
            Language::Es => "Lo siento, esa oferta ya no está disponible. ¿Busco de nuevo?",
            Language::Fr => "Désolé, cette offre n'est plus disponible. Je relance la recherche ?",
            Language::De => "Leider ist dieses Angebot nicht mehr verfügbar. Soll ich neu suchen?",
            Language::It => "Mi dispiace, questa offerta non è più disponibile. Cerco di nuovo?",
            Language::Pt => "Lamento, essa oferta já não está disponível. Procuro de novo?",
        }
        .to_owned(),
        BookingNews::AirlineUnavailable => then(
            match l {
                Language::En => "The airline didn't answer, so nothing was booked.",
                Language::Es => "La aerolínea no ha respondido, así que no se ha reservado nada.",
                Language::Fr => "La compagnie n'a pas répondu, donc rien n'a été réservé.",
                Language::De => "Die Airline hat nicht geantwortet, es wurde also nichts gebucht.",
                Language::It => "La compagnia non ha risposto, quindi non è stato prenotato nulla.",
                Language::Pt => "A companhia não respondeu, por isso nada foi reservado.",
            }
            .to_owned(),
            question(l, state),
        ),
        BookingNews::NotBooked => then(
            match l {
                Language::En => "Something went wrong on my side and nothing was booked.",
                Language::Es => "Algo ha fallado por mi parte y no se ha reservado nada.",
                Language::Fr => "Quelque chose a échoué de mon côté et rien n'a été réservé.",
                Language::De => "Bei mir ist etwas schiefgegangen, es wurde nichts gebucht.",
                Language::It => "Qualcosa è andato storto da parte mia e non è stato prenotato nulla.",
                Language::Pt => "Algo correu mal do meu lado e nada foi reservado.",
            }
            .to_owned(),
            question(l, state),
        ),
        BookingNews::PriceChanged => question(l, state),
        BookingNews::DetailsRefused => then(
            match l {
                Language::En => "The airline did not accept these details, so nothing was booked. Let's go through them again.",
                Language::Es => "La aerolínea no ha aceptado estos datos, así que no se ha reservado nada. Repasémoslos.",
                Language::Fr => {
                    "La compagnie n'a pas accepté ces informations, donc rien n'a été réservé. Reprenons-les."
                }
                Language::De => {
                    "Die Airline hat diese Angaben nicht angenommen, es wurde nichts gebucht. Gehen wir sie noch einmal durch."
                }
                Language::It => {
                    "La compagnia non ha accettato questi dati, quindi non è stato prenotato nulla. Rivediamoli."
                }
                Language::Pt => "A companhia não aceitou estes dados, por isso nada foi reservado. Vamos revê-los.",
            }
            .to_owned(),
            question(l, state),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::model::{Stage, TravellerDraft};

    #[test]
    fn travellers_are_counted_in_each_language() {
        let family = [PassengerType::Adult, PassengerType::Adult, PassengerType::Child, PassengerType::Infant];
        assert_eq!(travellers_phrase(Language::En, &family), "2 adults, 1 child and 1 infant");
        assert_eq!(travellers_phrase(Language::Es, &family[..1]), "1 adulto");
        assert_eq!(travellers_phrase(Language::De, &family[..3]), "2 Erwachsene und 1 Kind");
        assert_eq!(age_phrase(Language::Fr, 1), "1 an");
    }

    #[test]
    fn every_question_and_problem_is_written_in_every_language() {
        let draft = BookingDraft {
            passengers: vec![PassengerType::Adult, PassengerType::Child],
            travellers: vec![
                TravellerDraft { first_name: Some("Ana".into()), ..TravellerDraft::default() },
                TravellerDraft::default(),
            ],
            price: Some(Money::new(rust_decimal::Decimal::from(245), "EUR")),
            new_price: Some(Money::new(rust_decimal::Decimal::from(260), "EUR")),
            travel_dates: vec![NaiveDate::from_ymd_opt(2027, 1, 15).expect("date")],
            ..BookingDraft::default()
        };
        let questions = [
            PendingQuestion::TravellerName { traveller: 1 },
            PendingQuestion::TravellerSurname { traveller: 0 },
            PendingQuestion::BirthDate { traveller: 0 },
            PendingQuestion::ContactEmail,
            PendingQuestion::ConfirmNewPrice,
            PendingQuestion::RetryBooking,
        ];
        let problems = [
            DetailProblem::NotUnderstood,
            DetailProblem::InvalidName,
            DetailProblem::BirthDateWithoutYear,
            DetailProblem::ImpossibleDate,
            DetailProblem::BirthDateInFuture,
            DetailProblem::BirthDateTooLongAgo,
            DetailProblem::AgeDoesNotFit { traveller: 0, age: 39, on: draft.travel_dates[0] },
            DetailProblem::InvalidEmail,
            DetailProblem::InvalidPhone,
        ];
        let mut seen = std::collections::HashSet::new();
        for l in Language::ALL {
            for pending in &questions {
                let state = DialogueState {
                    stage: Stage::TravellerDetails,
                    pending: Some(pending.clone()),
                    booking: Some(draft.clone()),
                    ..DialogueState::default()
                };
                let text = question(l, &state);
                assert!(text.len() > 8 && text.ends_with(['?', ')']), "{l:?} {pending:?}: {text}");
                assert!(seen.insert(text), "one text per language and question");
                for problem in &problems {
                    let step =
                        NextStep::AskDetail { problem: Some(problem.clone()), noted_name: None, split_guessed: false };
                    let text = super::step(l, &step, &state);
                    assert!(text.len() > question(l, &state).len() + 10, "{l:?} {problem:?}: {text}");
                }
            }
            let state = DialogueState { booking: Some(draft.clone()), ..DialogueState::default() };
            let total = Money::new(rust_decimal::Decimal::from(245), "EUR");
            let url = "https://pay.example/cs_1".to_owned();
            for item in [
                BookingNews::AwaitingPayment {
                    fresh: true,
                    url: Some(url.clone()),
                    until: "16:05".into(),
                    total: total.clone(),
                },
                BookingNews::AwaitingPayment {
                    fresh: false,
                    url: Some(url.clone()),
                    until: "16:05".into(),
                    total: total.clone(),
                },
            ] {
                let text = news(l, &item, &state);
                assert!(text.contains(&url) && text.contains("16:05") && text.contains("245"), "{l:?}: {text}");
            }
            let confirmed = BookingNews::Confirmed {
                reference: "ABC123".into(),
                route: ("LON".into(), "MAD".into()),
                date: draft.travel_dates[0],
            };
            assert!(news(l, &confirmed, &state).contains("ABC123"));
            for ended in [BookingStatus::Expired, BookingStatus::Cancelled, BookingStatus::Failed] {
                assert!(news(l, &BookingNews::Ended(ended), &state).ends_with('?'), "{l:?} {ended:?}");
            }
        }
    }
}
