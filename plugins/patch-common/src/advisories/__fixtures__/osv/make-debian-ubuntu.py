# Writes the Debian and Ubuntu OSV fixtures of this folder (see SOURCE.md).
# Run from this folder: python3 make-debian-ubuntu.py
import json
def aff(eco, name, fixed, urgency=None, extra=None):
    e = {
        "package": {"ecosystem": eco, "name": name, "purl": f"pkg:deb/debian/{name}?arch=source"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
    }
    if urgency is not None:
        e["ecosystem_specific"] = {"urgency": urgency}
    return e
def write(path, obj):
    open(path, "w").write(json.dumps(obj, indent=2) + "\n")

# DEBIAN-CVE records as osv.dev shows them (one affected entry per release).
for cve, name, fixed, urgency, pub in [
    ("CVE-2015-0840", "dpkg", "1.17.25", "not yet assigned", None),
    ("CVE-2015-5186", "audit", "1:2.4.4-1", "unimportant", None),
    ("CVE-2013-6370", "json-c", "0.11-4", "not yet assigned", None),
]:
    write(f"debian/DEBIAN-{cve}.json", {
        "schema_version": "1.7.3",
        "id": f"DEBIAN-{cve}",
        "upstream": [cve],
        "affected": [aff(f"Debian:{r}", name, fixed, urgency) for r in (11, 12, 13)],
        "references": [{"type": "REPORT", "url": f"https://security-tracker.debian.org/tracker/{cve}"}],
    })

# DSA/DLA-shaped records for Debian 12 from the bookworm-security Packages sample.
for adv_id, name, fixed, title, pub in [
    ("FIXTURE-DSA-0001-1", "linux", "6.1.190-1", "linux - security update", "2026-11-02T00:00:00Z"),
    ("FIXTURE-DSA-0002-1", "openssh", "1:9.2p1-2+deb12u9", "openssh - security update", "2026-11-10T00:00:00Z"),
    ("FIXTURE-DLA-0003-1", "util-linux", "2.38.1-5+deb12u1", "util-linux - security update", "2026-11-12T00:00:00Z"),
    ("FIXTURE-DLA-0004-1", "brotli", "1.0.9-2+deb12u1", "brotli - security update", "2026-11-14T00:00:00Z"),
]:
    write(f"debian/{adv_id}.json", {
        "schema_version": "1.7.3",
        "id": adv_id,
        "summary": title,
        "details": f"Test fixture in the shape of a Debian {adv_id.split('-')[1]} OSV record: the source package and fixed version are real (Debian 12 bookworm-security Packages index), the id is not a Debian advisory id and no CVE is claimed.",
        "aliases": [],
        "affected": [aff("Debian:12", name, fixed)],
        "references": [{"type": "PACKAGE", "url": f"https://tracker.debian.org/pkg/{name}"}],
    })

# Ubuntu CVE record in Canonical's documented shape (UBUNTU-CVE-2025-6491,
# trimmed: fewer binaries and versions), with binaries and a Pro entry without fix.
def ub(eco, name, fixed, distro, binaries, versions, availability="No subscription required"):
    e = {
        "package": {"ecosystem": eco, "name": name,
                    "purl": f"pkg:deb/ubuntu/{name}@{fixed or versions[-1]}?arch=source&distro={distro}"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}] + ([{"fixed": fixed}] if fixed else [])}],
        "versions": versions,
        "ecosystem_specific": ({"binaries": [{"binary_name": b, "binary_version": fixed} for b in binaries], "availability": availability} if fixed else {}),
    }
    return e
write("ubuntu/UBUNTU-CVE-2025-6491.json", {
    "schema_version": "1.7.0",
    "id": "UBUNTU-CVE-2025-6491",
    "details": "PHP 8.1 before 8.1.33, 8.2 before 8.2.29, 8.3 before 8.3.23 and 8.4 before 8.4.10: an overly large XML namespace prefix in the SOAP extension may lead to a null pointer dereference (trimmed fixture).",
    "aliases": [],
    "upstream": ["CVE-2025-6491"],
    "related": ["USN-7648-1"],
    "severity": [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H"},
        {"type": "Ubuntu", "score": "medium"},
    ],
    "published": "2025-07-13T22:15:00Z",
    "modified": "2025-07-18T17:02:45Z",
    "affected": [
        ub("Ubuntu:Pro:20.04:LTS", "php7.4", None, "esm-infra/focal", [], ["7.4.3-4ubuntu2.28", "7.4.3-4ubuntu2.29"]),
        ub("Ubuntu:22.04:LTS", "php8.1", "8.1.2-1ubuntu2.22", "jammy",
           ["libapache2-mod-php8.1", "php8.1", "php8.1-cli", "php8.1-common", "php8.1-soap", "php8.1-xml"],
           ["8.1.2-1ubuntu2.20", "8.1.2-1ubuntu2.21"]),
        ub("Ubuntu:24.04:LTS", "php8.3", "8.3.6-0ubuntu0.24.04.5", "noble",
           ["libapache2-mod-php8.3", "php8.3", "php8.3-cli", "php8.3-common", "php8.3-soap"],
           ["8.3.6-0ubuntu0.24.04.3", "8.3.6-0ubuntu0.24.04.4"]),
        ub("Ubuntu:25.04", "php8.4", "8.4.5-1ubuntu1.1", "plucky",
           ["php8.4", "php8.4-cli", "php8.4-common", "php8.4-soap"],
           ["8.4.5-1", "8.4.5-1ubuntu1"]),
    ],
    "references": [
        {"type": "REPORT", "url": "https://ubuntu.com/security/CVE-2025-6491"},
        {"type": "ADVISORY", "url": "https://ubuntu.com/security/notices/USN-7648-1"},
    ],
})
