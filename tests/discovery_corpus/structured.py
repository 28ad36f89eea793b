"""Writers for the healthcare interchange formats: FHIR R4 JSON bundles, X12 837P/835/270 and HL7 v2 ADT/DFT.

The layouts follow the standards; the optional parts (which segments, separators, identifier spellings) come
from a split's ``style`` mapping so that the train and test splits differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import lookalikes
from . import values as v
from .builder import J, Rich, emit_json, ent, jr, jv, lit
from .fields import Ctx

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
Style = Mapping[str, Any]


def _uuid(ctx: Ctx) -> str:
    h = "".join(ctx.rng.choice("0123456789abcdef") for _ in range(32))
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _maybe_neg_date(ctx: Ctx, style: Style) -> J:
    day = ctx.svc_date("iso")
    return jv("!date_not_birth" if ctx.rng.random() < style["date_negative_rate"] else None, day)


def fhir_bundle(ctx: Ctx, style: Style) -> Rich:
    """A Bundle with Practitioner, Organization, and per patient a Patient, Coverage and Claim."""
    rng, d, org = ctx.rng, ctx.provider, ctx.practice
    prac_id, org_id = _uuid(ctx), _uuid(ctx)
    practitioner: dict[str, object] = {
        "resourceType": "Practitioner",
        "id": prac_id,
        "identifier": [
            {"system": "http://hl7.org/fhir/sid/us-npi", "value": jv("US_NPI", d.npi)},
            {
                "type": {"coding": [{"system": V2_0203, "code": "DEA"}]},
                "system": style["dea_system"],
                "value": jv("DEA_NUMBER", d.dea),
            },
        ],
        "name": [{"family": jv("PERSON", d.last), "given": [jv("PERSON", d.first)], "prefix": ["Dr."]}],
        "telecom": [{"system": "phone", "value": jv("PHONE", ctx.phone(d.phone)), "use": "work"}],
    }
    organization: dict[str, object] = {
        "resourceType": "Organization",
        "id": org_id,
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": jv("US_NPI", org.npi)}],
        "name": org.name,
        "telecom": [{"system": "phone", "value": jv("PHONE", ctx.phone(org.phone))}],
        "address": [
            {
                "line": [jv("STREET_ADDRESS", org.street)],
                "city": org.city,
                "state": org.state,
                "postalCode": jv("ZIP_CODE", org.zip),
            }
        ],
    }
    resources: list[dict[str, object]] = [practitioner, organization]
    for _ in range(rng.randint(*style["patients"])):
        p = ctx.new_patient()
        pat_id, cov_id = _uuid(ctx), _uuid(ctx)
        identifiers: list[object] = [
            {
                "use": "usual",
                "type": {"coding": [{"system": V2_0203, "code": "MR"}]},
                "system": style["mrn_system"],
                "value": jv("MRN", p.mrn),
            },
        ]
        if rng.random() < style["ssn_rate"]:
            ssn = p.ssn if rng.random() < style["ssn_bare_rate"] else f"{p.ssn[:3]}-{p.ssn[3:5]}-{p.ssn[5:]}"
            identifiers.append({"system": "http://hl7.org/fhir/sid/us-ssn", "value": jv("US_SSN", ssn)})
        if p.medicare:
            identifiers.append({"system": "http://hl7.org/fhir/sid/us-mbi", "value": jv("MEDICARE_MBI", p.mbi)})
        patient: dict[str, object] = {"resourceType": "Patient", "id": pat_id}
        if style["narrative"]:
            patient["text"] = {
                "status": "generated",
                "div": jr(
                    [
                        (None, '<div xmlns="http://www.w3.org/1999/xhtml">'),
                        ("PERSON", f"{p.first} {p.last}"),
                        (None, "</div>"),
                    ]
                ),
            }
        patient |= {
            "identifier": identifiers,
            "name": [{"use": "official", "family": jv("PERSON", p.last), "given": [jv("PERSON", p.first)]}],
            "telecom": [
                {"system": "phone", "value": jv("PHONE", ctx.phone(p.phone)), "use": "home"},
                {"system": "email", "value": jv("EMAIL", p.email)},
            ],
            "gender": "female" if p.sex == "F" else "male",
            "birthDate": jv("DATE_OF_BIRTH", ctx.date(p.dob, "iso")),
            "address": [
                {
                    "use": "home",
                    "line": [jv("STREET_ADDRESS", p.street)],
                    "city": p.city,
                    "state": p.state,
                    "postalCode": jv("ZIP_CODE", p.zip),
                    "country": "US",
                }
            ],
        }
        payer_id = ctx.insurance_id()
        coverage = {
            "resourceType": "Coverage",
            "id": cov_id,
            "status": "active",
            "identifier": [
                {
                    "type": {"coding": [{"system": V2_0203, "code": "MB"}]},
                    "system": style["member_system"],
                    "value": jr(payer_id),
                }
            ],
            "subscriberId": jr(ctx.insurance_id()),
            "beneficiary": {"reference": f"Patient/{pat_id}"},
            "relationship": {"coding": [{"code": "self"}]},
            "payor": [{"display": ctx.payer}],
        }
        items = []
        for seq in range(1, rng.randint(2, 4)):
            code = v.procedure(rng)
            system = (
                "https://bluebutton.cms.gov/resources/codesystem/hcpcs"
                if code[0].isalpha()
                else ("http://www.ama-assn.org/go/cpt")
            )
            items.append(
                {
                    "sequence": seq,
                    "productOrService": {"coding": [{"system": system, "code": jv("PROCEDURE_CODE", code)}]},
                    "servicedDate": _maybe_neg_date(ctx, style),
                    "unitPrice": {"value": float(ctx.amount()), "currency": "USD"},
                }
            )
        claim: dict[str, object] = {
            "resourceType": "Claim",
            "id": _uuid(ctx),
            "status": "active",
            "type": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]
            },
            "use": "claim",
            "patient": {"reference": f"Patient/{pat_id}"},
            "created": _maybe_neg_date(ctx, style),
            "provider": {"reference": f"Organization/{org_id}"},
            "priority": {"coding": [{"code": "normal"}]},
            "diagnosis": [
                {
                    "sequence": i,
                    "diagnosisCodeableConcept": {
                        "coding": [
                            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": jv("ICD10_CM", v.icd10(rng))}
                        ]
                    },
                }
                for i in range(1, rng.randint(2, 4))
            ],
            "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": f"Coverage/{cov_id}"}}],
            "item": items,
        }
        if rng.random() < style["order_negative_rate"]:
            claim["identifier"] = [{"system": style["order_system"], "value": jr(ctx.negative("bare_10_digits"))}]
        resources += [patient, coverage, claim]
    entries: list[object] = []
    for resource in resources:
        entry: dict[str, object] = {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
        if style["bundle_type"] == "transaction":
            entry["request"] = {"method": "POST", "url": resource["resourceType"]}
        entries.append(entry)
    bundle = {"resourceType": "Bundle", "id": _uuid(ctx), "type": style["bundle_type"], "entry": entries}
    return emit_json(bundle, indent=style["indent"])


# ---- X12 ---------------------------------------------------------------------------------------------------


def _seg(*elements: str | Rich) -> Rich:
    out: Rich = []
    for index, element in enumerate(elements):
        if index:
            out.append((None, "*"))
        out.extend(lit(element) if isinstance(element, str) else element)
    return out


def _name_elems(first: str, last: str) -> tuple[Rich, Rich]:
    return ent("PERSON", last), ent("PERSON", first)


def _zip9(value: str) -> Rich:
    return ent("ZIP_CODE", value.replace("-", ""))


def _envelope(ctx: Ctx, style: Style, kind: str, version: str, body: list[Rich]) -> Rich:
    rng = ctx.rng
    control = f"{rng.randint(1, 99999):09d}"
    stamp = ctx.svc_date("compact")
    isa = [
        *lit(
            f"ISA*00*{' ' * 10}*00*{' ' * 10}*ZZ*{style['sender']:<15}*ZZ*{style['receiver']:<15}*{stamp[2:]}*"
            f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}*^*00501*"
        ),
        *ent("!bare_9_digits", control),
        *lit("*0*P*:"),
    ]
    group = str(rng.randint(1, 9999))
    st = f"{rng.randint(1, 9999):04d}"
    segs: list[Rich] = [
        isa,
        lit(f"GS*{kind}*{style['sender']}*{style['receiver']}*{stamp}*1200*{group}*X*{version}"),
        lit(f"ST*{kind_code(kind)}*{st}*{version}"),
        *body,
    ]
    segs.append(lit(f"SE*{len(body) + 2}*{st}"))
    segs += [lit(f"GE*1*{group}"), [*lit("IEA*1*"), *ent("!bare_9_digits", control)]]
    out: Rich = []
    for seg in segs:
        out.extend(seg)
        out.append((None, style["terminator"]))
    return out


def kind_code(kind: str) -> str:
    return {"HC": "837", "HP": "835", "HS": "270"}[kind]


def x12_837(ctx: Ctx, style: Style) -> Rich:
    rng, org = ctx.rng, ctx.practice
    body: list[Rich] = [lit(f"BHT*0019*00*{ctx.claim_no().replace('-', '')}*{ctx.svc_date('compact')}*1200*CH")]
    contact_first, contact_last = ctx.name()
    body += [
        _seg("NM1", "41", "2", org.name, "", "", "", "", "46", "S" + str(rng.randint(1000, 99999))),
        _seg(
            "PER",
            "IC",
            ent("PERSON", f"{contact_first} {contact_last}"),
            "TE",
            ent("PHONE", org.phone),
            "EM",
            ent("EMAIL", v.email(rng, contact_first, contact_last).upper()),
        ),
        _seg("NM1", "40", "2", ctx.payer.upper(), "", "", "", "", "46", str(rng.randint(10000, 99999))),
        lit("HL*1**20*1"),
        _seg("NM1", "85", "2", org.name, "", "", "", "", "XX", ent("US_NPI", org.npi)),
        _seg("N3", ent("STREET_ADDRESS", org.street)),
        _seg("N4", org.city, org.state, _zip9(org.zip)),
        _seg("REF", "EI", ent("!tax_id", org.tax_id)),
    ]
    hl = 1
    for _ in range(rng.randint(*style["claims"])):
        p = ctx.new_patient()
        hl += 1
        last, first = _name_elems(p.first, p.last)
        medicare = p.medicare
        body += [
            lit(f"HL*{hl}*1*22*0"),
            lit(f"SBR*P*18*******{'MB' if medicare else 'CI'}"),
            _seg("NM1", "IL", "1", last, first, "", "", "", "MI", ctx.insurance_id()),
            _seg("N3", ent("STREET_ADDRESS", p.street)),
            _seg("N4", p.city, p.state, _zip9(p.zip)),
            _seg("DMG", "D8", ent("DATE_OF_BIRTH", ctx.date(p.dob, "compact")), p.sex),
        ]
        if rng.random() < style["ref_sy_rate"]:
            body.append(_seg("REF", "SY", ent("US_SSN", p.ssn)))
        body.append(_seg("NM1", "PR", "2", ctx.payer.upper(), "", "", "", "", "PI", str(rng.randint(10000, 99999))))
        claim_id: Rich = (
            ent("!bare_10_digits", lookalikes.bare_digits(rng, 10))
            if rng.random() < style["claim_negative_rate"]
            else lit(ctx.claim_no().replace("-", ""))
        )
        body.append(_seg("CLM", claim_id, ctx.amount(), "", "", "11:B:1", "Y", "A", "Y", "Y"))
        codes = [v.icd10(rng).replace(".", "") for _ in range(rng.randint(1, 3))]
        hi: list[str | Rich] = ["HI"]
        for i, code in enumerate(codes):
            hi.append([(None, "ABK:" if i == 0 else "ABF:"), ("ICD10_CM", code)])
        body.append(_seg(*hi))
        if rng.random() < style["referring_rate"]:
            d2 = ctx.provider2
            body.append(
                _seg("NM1", "DN", "1", *_name_elems(d2.first, d2.last), "", "", "", "XX", ent("US_NPI", d2.npi))
            )
        d = ctx.provider
        body.append(_seg("NM1", "82", "1", *_name_elems(d.first, d.last), "", "", "", "XX", ent("US_NPI", d.npi)))
        for line in range(1, rng.randint(2, 4)):
            code = v.procedure(rng)
            mod = rng.choice(("", "", ":25", ":59", ":GT"))
            body += [
                lit(f"LX*{line}"),
                _seg(
                    "SV1",
                    [(None, "HC:"), ("PROCEDURE_CODE", code), (None, mod)],
                    ctx.amount(),
                    "UN",
                    str(rng.randint(1, 3)),
                    "",
                    "",
                    "1",
                ),
                lit(f"DTP*472*D8*{ctx.svc_date('compact')}"),
            ]
    return _envelope(ctx, style, "HC", "005010X222A1", body)


def x12_835(ctx: Ctx, style: Style) -> Rich:
    rng, org = ctx.rng, ctx.practice
    payer_aba, payer_acct = v.aba(rng), v.bank_account(rng)
    company = "1" + lookalikes.tax_id(rng)
    body: list[Rich] = [
        _seg(
            "BPR",
            "I",
            ctx.amount(),
            "C",
            "ACH",
            "CCP",
            "01",
            ent("ABA_ROUTING", payer_aba),
            "DA",
            ent("BANK_ACCOUNT", payer_acct),
            ent("!bare_10_digits", company),
            "",
            "01",
            ent("ABA_ROUTING", org.aba),
            "DA",
            ent("BANK_ACCOUNT", org.account),
            ctx.svc_date("compact"),
        ),
        _seg("TRN", "1", ctx.claim_no().replace("-", ""), ent("!bare_10_digits", company)),
        lit(f"DTM*405*{ctx.svc_date('compact')}"),
        _seg("N1", "PR", ctx.payer.upper()),
        _seg("N3", ent("STREET_ADDRESS", v.street(rng, True))),
        _seg("N4", v.city(rng)[0].upper(), "IL", ent("ZIP_CODE", v.zip_code(rng, "606", dash=False))),
        _seg("N1", "PE", org.name, "XX", ent("US_NPI", org.npi)),
        _seg("REF", "TJ", ent("!tax_id", org.tax_id)),
    ]
    for line in range(1, rng.randint(*style["claims"]) + 1):
        p = ctx.new_patient()
        body += [
            lit(f"LX*{line}"),
            _seg(
                "CLP",
                ctx.claim_no().replace("-", ""),
                "1",
                ctx.amount(),
                ctx.amount(),
                "",
                "12",
                v.pattern(rng, "99AA999999999A"),
                "11",
                "1",
            ),
            _seg("NM1", "QC", "1", *_name_elems(p.first, p.last), "", "", "", "MI", ctx.insurance_id()),
            _seg(
                "NM1",
                "82",
                "1",
                *_name_elems(ctx.provider.first, ctx.provider.last),
                "",
                "",
                "",
                "XX",
                ent("US_NPI", ctx.provider.npi),
            ),
            lit(f"DTM*232*{ctx.svc_date('compact')}"),
        ]
        for _ in range(rng.randint(1, 3)):
            body += [
                _seg("SVC", [(None, "HC:"), ("PROCEDURE_CODE", v.procedure(rng))], ctx.amount(), ctx.amount(), "", "1"),
                lit(f"DTM*472*{ctx.svc_date('compact')}"),
                lit(f"CAS*CO*45*{ctx.amount()}"),
            ]
    return _envelope(ctx, style, "HP", "005010X221A1", body)


def x12_270(ctx: Ctx, style: Style) -> Rich:
    rng, org = ctx.rng, ctx.practice
    body: list[Rich] = [
        lit(f"BHT*0022*13*{ctx.claim_no().replace('-', '')}*{ctx.svc_date('compact')}*1200"),
        lit("HL*1**20*1"),
        _seg("NM1", "PR", "2", ctx.payer.upper(), "", "", "", "", "PI", str(rng.randint(10000, 99999))),
        lit("HL*2*1*21*1"),
        _seg("NM1", "1P", "2", org.name, "", "", "", "", "XX", ent("US_NPI", org.npi)),
    ]
    hl = 2
    for _ in range(rng.randint(*style["claims"])):
        p = ctx.new_patient()
        hl += 1
        body += [
            lit(f"HL*{hl}*2*22*0"),
            lit(f"TRN*1*{ctx.claim_no().replace('-', '')}*9{org.tax_id}"),
            _seg("NM1", "IL", "1", *_name_elems(p.first, p.last), "", "", "", "MI", ctx.insurance_id()),
            _seg("DMG", "D8", ent("DATE_OF_BIRTH", ctx.date(p.dob, "compact"))),
            lit(f"DTP*291*D8*{ctx.svc_date('compact')}"),
            lit("EQ*30"),
        ]
    return _envelope(ctx, style, "HS", "005010X279A1", body)


# ---- HL7 v2 ----------------------------------------------------------------------------------------------


def _hl7_seg(name: str, fields: Mapping[int, Rich | str]) -> Rich:
    last = max(fields)
    out: Rich = [(None, name)]
    for number in range(1, last + 1):
        out.append((None, "|"))
        value = fields.get(number, "")
        out.extend(lit(value) if isinstance(value, str) else value)
    return out


def _xpn(first: str, last: str) -> Rich:
    return [("PERSON", last), (None, "^"), ("PERSON", first)]


def hl7_message(ctx: Ctx, style: Style, event: str) -> Rich:
    """One ADT or DFT message (segments joined by carriage returns, no trailing separator)."""
    rng = ctx.rng
    p = ctx.new_patient()
    d = ctx.provider
    stamp = ctx.svc_date("compact") + f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}00"
    kind = "DFT" if event == "P03" else "ADT"
    structure = "DFT_P03" if kind == "DFT" else "ADT_A01"
    segs: list[Rich] = [
        lit(
            f"MSH|^~\\&|{style['app']}|{style['facility']}|CLAIMVAULT|BILLING|{stamp}||{kind}^{event}^{structure}|"
            f"{style['control_prefix']}{rng.randint(1000, 999999)}|P|{style['version']}"
        ),
        lit(f"EVN|{event}|{stamp}"),
    ]
    ssn = p.ssn if rng.random() < style["ssn_bare_rate"] else f"{p.ssn[:3]}-{p.ssn[3:5]}-{p.ssn[5:]}"
    phone = ctx.phone(p.phone, rng.choice(("paren_tight", "paren_tight", "dash")))
    telecom: Rich = [("PHONE", phone), (None, "^PRN^PH")]
    if rng.random() < style["email_rate"]:
        telecom += [(None, "~^NET^Internet^"), ("EMAIL", p.email)]
    pid: dict[int, Rich | str] = {
        1: "1",
        3: [("MRN", p.mrn), (None, f"^^^{style['facility']}^MR")],
        5: _xpn(p.first, p.last),
        7: ent("DATE_OF_BIRTH", ctx.date(p.dob, "compact")),
        8: p.sex,
        11: [("STREET_ADDRESS", p.street), (None, f"^^{p.city}^{p.state}^"), ("ZIP_CODE", p.zip), (None, "^USA^H")],
        13: telecom,
        19: ent("US_SSN", ssn),
    }
    if p.medicare and style["mbi_in_pid"]:
        pid[2] = [("MEDICARE_MBI", p.mbi), (None, "^^^CMS^MC")]
    segs.append(_hl7_seg("PID", pid))
    if rng.random() < style["nk1_rate"]:
        first, last = ctx.name()
        segs.append(
            _hl7_seg(
                "NK1",
                {
                    1: "1",
                    2: _xpn(first, last),
                    3: "SPO^Spouse",
                    5: ent("PHONE", ctx.phone(v.phone_digits(rng), "paren_tight")),
                },
            )
        )
    xcn: Rich = [("US_NPI", d.npi), (None, "^"), *_xpn(d.first, d.last), (None, "^^^^^^NPI")]
    segs.append(
        _hl7_seg(
            "PV1", {1: "1", 2: "O", 3: f"CLINIC^^^{style['facility']}", 7: xcn, 19: f"V{rng.randint(100000, 999999)}"}
        )
    )
    segs.append(
        _hl7_seg(
            "IN1",
            {
                1: "1",
                2: f"PLAN{rng.randint(10, 99)}",
                3: str(rng.randint(10000, 99999)),
                4: ctx.payer,
                16: _xpn(p.first, p.last),
                17: "01",
                18: ent("DATE_OF_BIRTH", ctx.date(p.dob, "compact")),
                36: ctx.insurance_id(),
            },
        )
    )
    if rng.random() < style["gt1_rate"]:
        first, last = ctx.name()
        segs.append(
            _hl7_seg(
                "GT1",
                {
                    1: "1",
                    3: _xpn(first, last),
                    5: [("STREET_ADDRESS", p.street), (None, f"^^{p.city}^{p.state}^"), ("ZIP_CODE", p.zip)],
                    6: ent("PHONE", ctx.phone(p.phone, "paren_tight")),
                },
            )
        )
    for i in range(1, rng.randint(2, 4)):
        segs.append(
            _hl7_seg(
                "DG1", {1: str(i), 3: [("ICD10_CM", v.icd10(rng)), (None, "^^I10")], 5: ctx.svc_date("compact"), 6: "A"}
            )
        )
    if kind == "DFT":
        for i in range(1, rng.randint(2, 5)):
            code = v.procedure(rng)
            system = "HCPCS" if code[0].isalpha() else "CPT"
            segs.append(
                _hl7_seg(
                    "FT1",
                    {
                        1: str(i),
                        4: ctx.svc_date("compact"),
                        6: "CG",
                        7: style["ft1_transaction"],
                        10: str(rng.randint(1, 3)),
                        11: ctx.amount(),
                        25: [("PROCEDURE_CODE", code), (None, f"^^{system}")],
                    },
                )
            )
    if rng.random() < style["nte_rate"]:
        segs.append(
            _hl7_seg(
                "NTE",
                {1: "1", 3: ctx.negative(rng.choice(("bare_9_digits", "spaced_ssn", "id_in_word", "npi_lookalike")))},
            )
        )
    out: Rich = []
    for index, seg in enumerate(segs):
        if index:
            out.append((None, "\r"))
        out.extend(seg)
    return out
