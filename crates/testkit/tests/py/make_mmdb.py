"""Writes small MaxMind-format City and ASN databases for the detection tests, with the
`mmdb-writer` package (GeoLite2 cannot be downloaded here).

usage: make_mmdb.py CITY_OUT ASN_OUT
Networks (documentation ranges):
  192.0.2.0/24     Paris, FR      AS 3215
  198.51.100.0/24  Sydney, AU     AS 1221
  203.0.113.0/24   Lyon, FR       AS 3215
"""
import sys

from mmdb_writer import MMDBWriter, MmdbF64, MmdbU32
from netaddr import IPSet

PLACES = [
    ("192.0.2.0/24", "FR", "Paris", 48.8566, 2.3522, 3215, "Orange"),
    ("198.51.100.0/24", "AU", "Sydney", -33.8688, 151.2093, 1221, "Telstra"),
    ("203.0.113.0/24", "FR", "Lyon", 45.7640, 4.8357, 3215, "Orange"),
]


def main(city_out: str, asn_out: str) -> None:
    city = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City", languages=["en"])
    asn = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN", languages=["en"])
    for net, country, name, lat, lon, number, org in PLACES:
        city.insert_network(
            IPSet([net]),
            {
                "country": {"iso_code": country, "names": {"en": country}},
                "city": {"names": {"en": name}},
                "location": {"latitude": MmdbF64(lat), "longitude": MmdbF64(lon)},
            },
        )
        asn.insert_network(
            IPSet([net]),
            {"autonomous_system_number": MmdbU32(number), "autonomous_system_organization": org},
        )
    city.to_db_file(city_out)
    asn.to_db_file(asn_out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
