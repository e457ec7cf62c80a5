# Writes the Debian 12 demo advisories of this folder (see ../../README.md).
# Run from this folder: python3 make-demo-advisories.py
#
# Format: Debian's OSV records (Debian:12 ecosystem, SOURCE package names with
# purl arch=source, ECOSYSTEM ranges introduced 0 / fixed). Source names and
# fixed versions are real: the bookworm-security versions of the demo fleet's
# package sets (agent/src/providers/simulatedCatalog.ts, taken from a real
# Debian 12 machine), cross-checked against the bookworm-security Packages
# sample and dpkg's ${source:Package} on that machine. The ids are NOT Debian
# advisory ids, no CVE is claimed (none could be confirmed from a DSA/DLA),
# and the severities and dates are chosen for the demo's story.
import json

NOTE = ("Demo advisory in Debian's OSV format for the Patchbay demo fleet. The source package "
        "and fixed version are real (Debian 12 bookworm-security); the id is not a Debian "
        "advisory id, no CVE is claimed, and the severity and date are set for the demo.")

ADVISORIES = [
    # id (entity name = lower case id), source, fixed version, severity, summary, published, binaries in the fleet
    ("DEBIAN12-OPENSSL-3.0.22", "openssl", "3.0.22-1~deb12u2", "critical", "openssl - security update", "2026-11-10", "libssl3, openssl, libssl-dev"),
    ("DEBIAN12-EXPAT-2.5.0-DEB12U5", "expat", "2.5.0-1+deb12u5", "high", "expat - security update", "2026-10-20", "libexpat1, libexpat1-dev"),
    ("DEBIAN12-KRB5-1.20.1-DEB12U5", "krb5", "1.20.1-2+deb12u5", "high", "krb5 - security update", "2026-11-18", "libgssapi-krb5-2, libk5crypto3, libkrb5-3, libkrb5support0, krb5-locales"),
    ("DEBIAN12-PYTHON3.11-DEB12U9", "python3.11", "3.11.2-6+deb12u9", "high", "python3.11 - security update", "2026-11-05", "python3.11, python3.11-minimal, libpython3.11, libpython3.11-minimal, ..."),
    ("DEBIAN12-POSTGRESQL-15-15.20", "postgresql-15", "15.20-0+deb12u1", "high", "postgresql-15 - security update", "2026-11-20", "postgresql-15, postgresql-client-15, libpq5, libpq-dev"),
    ("DEBIAN12-LINUX-6.1.192-2", "linux", "6.1.192-2", "high", "linux - security update", "2026-11-22", "linux-libc-dev, linux-perf"),
    ("DEBIAN12-NSS-3.87.1-DEB12U4", "nss", "2:3.87.1-1+deb12u4", "medium", "nss - security update", "2026-11-08", "libnss3, libnss3-dev"),
    ("DEBIAN12-GNUTLS28-3.7.9-DEB12U7", "gnutls28", "3.7.9-2+deb12u7", "medium", "gnutls28 - security update", "2026-11-03", "libgnutls30, libgnutls-dane0, libgnutls-openssl27, libgnutls28-dev, libgnutlsxx30"),
    ("DEBIAN12-LIBPNG-1.6.39-DEB12U6", "libpng1.6", "1.6.39-2+deb12u6", "medium", "libpng1.6 - security update", "2026-11-12", "libpng16-16, libpng-dev, libpng-tools"),
    ("DEBIAN12-XZ-UTILS-5.4.1-DEB12U2", "xz-utils", "5.4.1-1+deb12u2", "medium", "xz-utils - security update", "2026-09-15", "liblzma5, xz-utils"),
    ("DEBIAN12-JQ-1.6-DEB12U3", "jq", "1.6-2.1+deb12u3", "medium", "jq - security update", "2026-11-01", "jq, libjq1"),
    ("DEBIAN12-PCRE2-10.42-DEB12U2", "pcre2", "10.42-1+deb12u2", "low", "pcre2 - security update", "2026-10-28", "libpcre2-8-0"),
    ("DEBIAN12-TZDATA-2026F", "tzdata", "2026f-0+deb12u1", "low", "tzdata - time zone data update (bug fix)", "2026-11-15", "tzdata"),
]

for adv_id, source, fixed, severity, summary, published, binaries in ADVISORIES:
    record = {
        "schema_version": "1.7.3",
        "id": adv_id,
        "summary": summary,
        "details": f"{NOTE} Binary packages of {source} in the demo fleet: {binaries}.",
        "aliases": [],
        "published": f"{published}T00:00:00Z",
        "modified": f"{published}T00:00:00Z",
        "affected": [
            {
                "package": {
                    "ecosystem": "Debian:12",
                    "name": source,
                    "purl": f"pkg:deb/debian/{source}?arch=source",
                },
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": fixed}],
                    }
                ],
            }
        ],
        "database_specific": {
            "severity": severity,
            "source": "Patchbay demo: real Debian 12 source package and fixed version; id, severity and date set for the demo",
        },
        "references": [
            {"type": "PACKAGE", "url": f"https://tracker.debian.org/pkg/{source}"}
        ],
    }
    with open(f"{adv_id}.json", "w") as f:
        f.write(json.dumps(record, indent=2) + "\n")
