#!/usr/bin/env python3
"""Writes the synthetic patient Bundles of the demo simulated trusts (RGT, RXH).

Everything here is invented: names, dates and results are synthetic, and every NHS number is in
the 999 test range (never issued to a real person) with a valid Modulus 11 check digit. Two
patients are held by both trusts (same NHS number, different local ids and records), so a
federated search shows the union. Deterministic: running it again rewrites the same files.

    python3 config/demo/trusts/generate_patients.py
"""
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
NHS = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
VERIFICATION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
VERIFICATION_CS = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"


def nhs_number(first_nine):
    """first_nine + the Modulus 11 check digit; None when the check digit would be 10."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(first_nine))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10:
        return None
    return first_nine + str(check)


def test_range_numbers(start, count):
    out, n = [], start
    while len(out) < count:
        number = nhs_number(str(n))
        if number:
            out.append(number)
        n += 7
    return out


NUMBERS = test_range_numbers(999000123, 6)

PATIENTS = [
    dict(key=1, family="Hughes", given="Amelia", gender="female", birth="1984-03-12",
         postcode="CB2 0QQ", trusts=["RGT", "RXH"]),
    dict(key=2, family="Bennett", given="Oliver", gender="male", birth="1950-11-02",
         postcode="CB1 2AB", trusts=["RGT", "RXH"]),
    dict(key=3, family="Sharma", given="Priya", gender="female", birth="1992-07-25",
         postcode="PE1 5XY", trusts=["RGT"]),
    dict(key=4, family="Whitfield", given="George", gender="male", birth="1967-01-30",
         postcode="CB4 1DF", trusts=["RGT"]),
    dict(key=5, family="Okafor", given="Fatima", gender="female", birth="2001-09-14",
         postcode="BN2 5BE", trusts=["RXH"]),
    dict(key=6, family="Evans", given="Thomas", gender="male", birth="1938-05-08",
         postcode="BN1 9PH", trusts=["RXH"]),
]
for p, number in zip(PATIENTS, NUMBERS):
    p["nhs"] = number

TRUSTS = {
    "RGT": dict(name="Cambridge University Hospitals (simulated)", day="2026-03", seed=3),
    "RXH": dict(name="University Hospitals Sussex (simulated)", day="2026-05", seed=5),
}

LABS = [  # LOINC code, display, unit, base value, step
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/L", 128, 7),
    ("2160-0", "Creatinine [Moles/volume] in Serum or Plasma", "umol/L", 74, 11),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 4.1, 0.2),
    ("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L", 3, 9),
]
VITALS = [
    ("8867-4", "Heart rate", "/min", "beats/minute", 72, 6),
    ("8310-5", "Body temperature", "Cel", "degrees C", 36.8, 0.3),
    ("9279-1", "Respiratory rate", "/min", "breaths/minute", 15, 2),
    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "%", 97, 1),
]
CONDITIONS = [
    ("38341003", "Hypertensive disorder, systemic arterial"),
    ("44054006", "Diabetes mellitus type 2"),
    ("195967001", "Asthma"),
    ("431855005", "Chronic kidney disease stage 1"),
    ("35489007", "Depressive disorder"),
]
ALLERGIES = [
    ("764146007", "Penicillin", "medication"),
    ("91935009", "Allergy to peanut", "food"),
    ("418689008", "Allergy to grass pollen", "environment"),
]
ENCOUNTER_CLASSES = [("AMB", "ambulatory"), ("IMP", "inpatient encounter"), ("EMER", "emergency")]


def ref(ods, pid):
    return {"reference": f"Patient/{pid}"}


def observation(ods, pid, oid, enc, category, code, display, value, unit, unit_code, when):
    return {
        "resourceType": "Observation",
        "id": oid,
        "meta": {"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation"]},
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": category,
                                  "display": "Laboratory" if category == "laboratory"
                                  else "Vital Signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": ref(ods, pid),
        "encounter": {"reference": f"Encounter/{enc}"},
        "effectiveDateTime": when,
        "performer": [{"identifier": {"system": ODS, "value": ods}}],
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit_code},
    }


def bundle_for(p, ods):
    trust = TRUSTS[ods]
    k = p["key"]
    s = trust["seed"] + k
    lower = ods.lower()
    pid = f"{lower}-pat-{k}"
    resources = [{
        "resourceType": "Patient",
        "id": pid,
        "meta": {"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]},
        "identifier": [
            {"extension": [{"url": VERIFICATION, "valueCodeableConcept": {"coding": [
                {"system": VERIFICATION_CS, "code": "01",
                 "display": "Number present and verified"}]}}],
             "system": NHS, "value": p["nhs"]},
            {"system": f"https://sim.trustbridge.dev/{ods}/Id/mrn",
             "value": f"{ods}{100000 + 37 * k}"},
        ],
        "name": [{"use": "official", "family": p["family"], "given": [p["given"]]}],
        "gender": p["gender"],
        "birthDate": p["birth"],
        "address": [{"use": "home", "postalCode": p["postcode"]}],
        "managingOrganization": {"identifier": {"system": ODS, "value": ods}},
    }]
    encounters = []
    for e in range(2):
        eid = f"{lower}-enc-{k}-{e + 1}"
        klass = ENCOUNTER_CLASSES[(s + e) % len(ENCOUNTER_CLASSES)]
        day = 3 + 9 * e + k
        start = f"{trust['day']}-{day:02d}T09:{10 + k:02d}:00Z"
        end = f"{trust['day']}-{day + (1 if klass[0] == 'IMP' else 0):02d}T16:45:00Z"
        encounters.append((eid, start))
        resources.append({
            "resourceType": "Encounter",
            "id": eid,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": klass[0], "display": klass[1]},
            "subject": ref(ods, pid),
            "period": {"start": start, "end": end},
            "serviceProvider": {"identifier": {"system": ODS, "value": ods}},
        })
    n = 0
    for e, (eid, start) in enumerate(encounters):
        for i, (code, display, unit, base, step) in enumerate(LABS[:2 + (s + e) % 3]):
            n += 1
            value = round(base + step * (((s + i + e) % 5) - 2) / 2, 1)
            resources.append(observation(ods, pid, f"{lower}-obs-{k}-{n}", eid, "laboratory",
                                         code, display, value, unit, unit, start))
        for i, (code, display, unit_code, unit, base, step) in enumerate(VITALS[:2 + (s + e) % 3]):
            n += 1
            value = round(base + step * (((s * 3 + i + e) % 5) - 2) / 2, 1)
            resources.append(observation(ods, pid, f"{lower}-obs-{k}-{n}", eid, "vital-signs",
                                         code, display, value, unit, unit_code, start))
    for c in range(1 + s % 2):
        code, display = CONDITIONS[(s + c) % len(CONDITIONS)]
        resources.append({
            "resourceType": "Condition",
            "id": f"{lower}-cond-{k}-{c + 1}",
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]},
            "verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "code": "confirmed"}]},
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                "code": "problem-list-item", "display": "Problem List Item"}]}],
            "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
            "subject": ref(ods, pid),
            "recordedDate": encounters[0][1][:10],
        })
    if s % 3 != 0:
        code, display, category = ALLERGIES[s % len(ALLERGIES)]
        resources.append({
            "resourceType": "AllergyIntolerance",
            "id": f"{lower}-alg-{k}-1",
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "code": "active"}]},
            "verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                "code": "confirmed"}]},
            "category": [category],
            "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
            "patient": ref(ods, pid),
            "recordedDate": encounters[0][1][:10],
        })
    return {
        "resourceType": "Bundle",
        "id": f"{lower}-patient-{k}",
        "type": "collection",
        "entry": [{"fullUrl": f"https://sim.trustbridge.dev/{ods}/fhir/{r['resourceType']}/{r['id']}",
                   "resource": r} for r in resources],
    }


def main():
    for ods in TRUSTS:
        folder = HERE / ods / "patients"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.json"):
            old.unlink()
        for p in PATIENTS:
            if ods in p["trusts"]:
                path = folder / f"{p['nhs']}.json"
                path.write_text(json.dumps(bundle_for(p, ods), indent=2) + "\n")
    print("NHS numbers:", ", ".join(f"{p['nhs']} ({'+'.join(p['trusts'])})" for p in PATIENTS))


if __name__ == "__main__":
    main()
