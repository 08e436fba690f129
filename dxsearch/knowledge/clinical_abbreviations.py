"""Abbreviations clinicians write for findings that HPO does not list: "HTN", "T2DM", "AVSD", "SNHL", "GDD/ID".

Why: a history line ("PMH: HTN, T2DM, OSA") or a genetics summary ("GDD/ID, SNHL, HSM") is mostly
abbreviations, and HPO lists only some (VSD, PDA, FTT, GERD); the rest were read as not understood. Each
entry here is the abbreviation's usual meaning in a clinical note, matched like HPO's own abbreviations:
only as spelled ("HTN", never "htn"), and never as a record's name ("Patient ID: 4411"; see
``term_lookup``). Abbreviations with two common clinical meanings are left out ("ASD": atrial septal
defect or autism; "MR": mitral regurgitation or mental retardation; "DD": developmental delay or
differential diagnosis; "AR": aortic regurgitation or autosomal recessive; "DM": diabetes or myotonic
dystrophy), as HPO's own ambiguous ones are.
"""

from __future__ import annotations

__all__ = ["CLINICAL_ABBREVIATIONS"]

#: Abbreviation as written -> HPO id (checked against ``hp.obo``'s names by the tests).
CLINICAL_ABBREVIATIONS: dict[str, str] = {
    # cardiovascular
    "HTN": "HP:0000822",  # Hypertension
    "AF": "HP:0005110",  # Atrial fibrillation
    "AFib": "HP:0005110",
    "AVSD": "HP:0006695",  # Atrioventricular canal defect
    "TOF": "HP:0001636",  # Tetralogy of Fallot
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
