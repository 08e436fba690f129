"""Abbreviations clinicians write for findings that HPO does not list: "HTN", "T2DM", "AVSD", "SNHL", "GDD/ID".

Why: a history line ("PMH: HTN, T2DM, OSA") or a genetics summary ("GDD/ID, SNHL, HSM") is mostly
abbreviations, and HPO lists only some (VSD, PDA, FTT, GERD); the rest were read as not understood. Each
entry here is the abbreviation's usual meaning in a clinical note, matched like HPO's own abbreviations:
only as spelled ("HTN", never "htn"), and never as a record's name ("Patient ID: 4411"; see
``term_lookup``).

Abbreviations with two common clinical meanings are not read by the dictionary, HPO's own included
(:data:`AMBIGUOUS_ABBREVIATIONS`: "ASD" is an atrial septal defect or autism, "TOF" a tetralogy of Fallot
or a tracheo-oesophageal fistula, "BPD" bronchopulmonary dysplasia or borderline personality disorder):
the findings beside them decide (``dxsearch.intake.abbreviation_context``). Others are left out for good
("DD": developmental delay or differential diagnosis; "AR": aortic regurgitation or autosomal recessive;
"DM": diabetes or myotonic dystrophy), and HPO abbreviations that notes use for a test are never findings
(:data:`NOT_FINDINGS`: "LFTs" are liver function tests, not Filum terminale lipoma).
"""

from __future__ import annotations

__all__ = ["AMBIGUOUS_ABBREVIATIONS", "CLINICAL_ABBREVIATIONS", "NOT_FINDINGS"]

CARDIOVASCULAR = "HP:0001626"  # Abnormality of the cardiovascular system
NERVOUS_SYSTEM = "HP:0000707"  # Abnormality of the nervous system (development and seizures alike)
BEHAVIOUR = "HP:0000708"  # Atypical behavior
RESPIRATORY = "HP:0002086"  # Abnormality of the respiratory system
DIGESTIVE = "HP:0025031"  # Abnormality of the digestive system
PRENATAL_OR_BIRTH = "HP:0001197"  # Abnormality of prenatal development or birth (prematurity)
JOINTS = "HP:0001367"  # Abnormal joint morphology
IMMUNE = "HP:0002715"  # Abnormality of the immune system

#: Abbreviation as written -> ((branches of HPO the findings beside it lie in, the meaning then read), ...).
AMBIGUOUS_ABBREVIATIONS: dict[str, tuple[tuple[frozenset[str], str], ...]] = {
    "ASD": (
        (frozenset({CARDIOVASCULAR}), "HP:0001631"),  # Atrial septal defect
        (frozenset({NERVOUS_SYSTEM, BEHAVIOUR}), "HP:0000717"),  # Autism
    ),
    "MR": (
        (frozenset({CARDIOVASCULAR}), "HP:0001653"),  # Mitral regurgitation
        (frozenset({NERVOUS_SYSTEM, BEHAVIOUR}), "HP:0001249"),  # Intellectual disability
    ),
    "TOF": (
        (frozenset({CARDIOVASCULAR}), "HP:0001636"),  # Tetralogy of Fallot
        (frozenset({DIGESTIVE}), "HP:0002575"),  # Tracheoesophageal fistula ("TOF/OA")
    ),
    "BPD": (
        (
            frozenset({RESPIRATORY, PRENATAL_OR_BIRTH}),
            "HP:0006528",
        ),  # Chronic lung disease (bronchopulmonary dysplasia)
        (frozenset({BEHAVIOUR}), "HP:0012076"),  # Borderline personality disorder
    ),
    "RA": (
        (frozenset({JOINTS, IMMUNE}), "HP:0001370"),  # Rheumatoid arthritis (never "on RA" nor "% RA": room air)
    ),
    "CP": (
        (frozenset({NERVOUS_SYSTEM}), "HP:0100021"),  # Cerebral palsy
        (frozenset({CARDIOVASCULAR, RESPIRATORY}), "HP:0100749"),  # Chest pain ("denies HA, CP, SOB")
    ),
}
#: HPO abbreviations notes write for a test or a result, never read as a finding.
NOT_FINDINGS = frozenset(
    {
        "LFT",  # liver function tests (HPO: Filum terminale lipoma)
        "BO",  # "BO every 3 days", "BNO": bowels opened (HPO: Body odor), as notes chart them
    }
)

#: Abbreviation as written -> HPO id (checked against ``hp.obo``'s names by the tests).
CLINICAL_ABBREVIATIONS: dict[str, str] = {
    # cardiovascular
    "HTN": "HP:0000822",  # Hypertension
    "AF": "HP:0005110",  # Atrial fibrillation
    "AFib": "HP:0005110",
    "Afib": "HP:0005110",
    "AVSD": "HP:0006695",  # Atrioventricular canal defect
    "HLHS": "HP:0004383",  # Hypoplastic left heart
    "PFO": "HP:0001655",  # Patent foramen ovale
    "CoA": "HP:0001680",  # Coarctation of aorta
    "LVH": "HP:0001712",  # Left ventricular hypertrophy
    "MVP": "HP:0001634",  # Mitral valve prolapse
    "WPW": "HP:0001716",  # Wolff-Parkinson-White syndrome
    # metabolic, respiratory, renal, gastrointestinal
    "T2DM": "HP:0005978",  # Type II diabetes mellitus
    "T1DM": "HP:0100651",  # Type I diabetes mellitus
    "OSA": "HP:0002870",  # Obstructive sleep apnea
    "SOB": "HP:0002094",  # Dyspnea (shortness of breath)
    "SOBOE": "HP:0002094",
    "HLD": "HP:0003077",  # Hyperlipidemia
    "ESRD": "HP:0003774",  # Stage 5 chronic kidney disease
    "NEC": "HP:0033165",  # Necrotizing enterocolitis
    "CDH": "HP:0000776",  # Congenital diaphragmatic hernia
    "TEF": "HP:0002575",  # Tracheoesophageal fistula
    "HSM": "HP:0001433",  # Hepatosplenomegaly
    # growth, development, senses, nervous system
    "SGA": "HP:0001518",  # Small for gestational age
    "ID": "HP:0001249",  # Intellectual disability ("GDD/ID")
    "mild ID": "HP:0001256",
    "moderate ID": "HP:0002342",
    "severe ID": "HP:0010864",
    "profound ID": "HP:0002187",
    "SNHL": "HP:0000407",  # Sensorineural hearing impairment
    "CHL": "HP:0000405",  # Conductive hearing impairment
    "GTC": "HP:0002069",  # Bilateral tonic-clonic seizure
    "GTCS": "HP:0002069",
    "IVH": "HP:0030746",  # Intraventricular hemorrhage
    "ROP": "HP:0500049",  # Retinopathy of prematurity
    # skeletal
    "CTEV": "HP:0001762",  # Talipes equinovarus
}
