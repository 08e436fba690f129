"""Everyday phrases clinicians write for findings that HPO does not spell: "floppy", "upgoing plantars", "murmur".

Why: a dictionary of HPO's names and synonyms reads "Hypotonia" and "Babinski sign"; a note says "floppy" and
"upgoing plantars". These phrases join the dictionary at the rank of an exact synonym (``term_lookup``), so a
note's negations and family cues apply as to any mention. Each maps to the term HPO names for the finding;
phrases that say an ability is missing ("cannot walk") are read by ``dxsearch.intake.abilities`` instead.
"""

from __future__ import annotations

__all__ = ["FINDING_PHRASES", "NORMAL_FUNCTIONS", "UNMAPPED_PHRASES"]

#: Everyday words for findings HPO does not spell.
FINDING_PHRASES: dict[str, str] = {
    "deaf": "HP:0000365",  # HPO spells the noun ("Deafness"), notes the adjective ("profoundly deaf since birth")
    # "Tall boy with arachnodactyly", "tall for age": Tall stature (a second user test lost the cardinal Marfan sign).
    # Never "tall" alone, nor "very tall": "(very) tall T waves", "5 ft tall".
    **dict.fromkeys(
        (
            "tall boy",
            "tall girl",
            "tall child",
            "tall man",
            "tall woman",
            "tall teenager",
            "tall adolescent",
            "tall for age",
            "tall for his age",
            "tall for her age",
        ),
        "HP:0000098",
    ),
    # "mildly reduced hearing", "hearing is decreased", "hard of hearing": Hearing impairment
    **dict.fromkeys(("decreased hearing", "poor hearing", "hard of hearing"), "HP:0000365"),
    # HPO says "Absence of pain sensation" (Pain insensitivity); "absent pain sensation" was Pain, denied
    **dict.fromkeys(("absent pain sensation", "loss of pain sensation"), "HP:0007021"),
    "bronchopulmonary dysplasia": "HP:0006528",  # Chronic lung disease: the chronic lung disease of prematurity
    # Tone and weakness as notes shorten them: "increased tone in the legs", "proximal weakness".
    **dict.fromkeys(("increased tone", "high tone", "raised tone"), "HP:0001276"),
    **dict.fromkeys(("reduced tone", "decreased tone", "low tone", "poor tone"), "HP:0001252"),
    "proximal weakness": "HP:0003701",
    "distal weakness": "HP:0002460",
    "hypermobile": "HP:0001382",  # "he is markedly hypermobile (Beighton 8/9)": Joint hypermobility
    "wheelchair bound": "HP:0002540",
    "nonambulant": "HP:0002540",
    # HPO spells it "generalized tonic-clonic seizure without specification of onset" and "bilateral ...".
    "generalized tonic clonic seizure": "HP:0002069",
    "tonic clonic seizure": "HP:0002069",
    **dict.fromkeys(
        (
            "recurrent falls",
            "frequent falls",
            "repeated falls",
            "multiple falls",
            "unexplained falls",
            "prone to falls",
        ),
        "HP:0002527",
    ),
}

#: From two user tests' notes (written by clinicians' hands, kept outside the benchmarks): cardinal signs as notes
#: say them, each checked against the term HPO names.
FINDING_PHRASES |= {
    # tone, strength, reflexes
    "floppy": "HP:0001252",  # Hypotonia
    **dict.fromkeys(("born floppy", "floppy at birth", "floppy baby"), "HP:0001319"),  # Neonatal hypotonia
    **dict.fromkeys(
        ("right sided weakness", "left sided weakness", "one sided weakness", "r sided weakness", "l sided weakness"),
        "HP:0001269",  # Hemiparesis
    ),
    "limb weakness": "HP:0003690",
    "leg weakness": "HP:0007340",
    "arm weakness": "HP:0003484",
    "facial weakness": "HP:0030319",
    **dict.fromkeys(("generalized weakness", "generalised weakness"), "HP:0003324"),
    **dict.fromkeys(("upgoing plantars", "upgoing plantar", "up going plantars", "extensor plantars"), "HP:0003487"),
    "absent ankle jerks": "HP:0003438",  # Absent Achilles reflex
    **dict.fromkeys(("reduced ankle jerks", "depressed ankle jerks"), "HP:0009072"),
    **dict.fromkeys(("gowers manoeuvre", "gowers maneuver", "positive gowers", "gowers"), "HP:0003391"),
    **dict.fromkeys(("enlarged calves", "calf hypertrophy", "calf enlargement", "large calves"), "HP:0008981"),
    # bones, joints, skin
    **dict.fromkeys(
        (
            "multiple fractures",
            "several fractures",
            "frequent fractures",
            "fractures from minimal trauma",
            "fractures with minimal trauma",
            "low trauma fractures",
            "fragility fractures",
        ),
        "HP:0002757",  # Recurrent fractures
    ),
    **dict.fromkeys(("limited supination", "limited forearm supination", "reduced supination"), "HP:0006394"),
    "stretchy skin": "HP:0000974",  # Hyperextensible skin
    # behaviour and development
    **dict.fromkeys(("autistic features", "autistic traits"), "HP:0000729"),  # Autistic behavior
    "happy demeanour": "HP:0040082",  # Happy demeanor
    "unprovoked laughter": "HP:0000748",  # Inappropriate laughter
    "paroxysms of laughter": "HP:0000749",  # Paroxysmal bursts of laughter
    **dict.fromkeys(("hand flapping", "flapping of the hands", "flaps his hands", "flaps her hands"), "HP:0100023"),
    **dict.fromkeys(("overfriendly", "over friendly", "overly friendly", "friendly with strangers"), "HP:0100025"),
    **dict.fromkeys(("insatiable appetite", "excessive appetite", "increased appetite"), "HP:0002591"),  # Polyphagia
    **dict.fromkeys(("hand stereotypies", "stereotypies", "stereotypic hand movements"), "HP:0000733"),
    **dict.fromkeys(("breath holding", "breath holding episodes", "breath holding spells"), "HP:6000950"),
    **dict.fromkeys(("low mood", "depressed mood"), "HP:0000716"),  # Depression
    "clumsy": "HP:0002312",
    **dict.fromkeys(("head growth has slowed", "slowing of head growth", "decelerating head growth"), "HP:0005484"),
    **dict.fromkeys(("development has plateaued", "developmental plateau", "plateau in development"), "HP:0007281"),
    **dict.fromkeys(("loss of skills", "lost skills", "loss of milestones", "lost milestones"), "HP:0002376"),
    "walked late": "HP:0031936",  # Delayed ability to walk
    **dict.fromkeys(("talked late", "late talker"), "HP:0000750"),  # Delayed speech and language development
    # heart, lungs, gut, metabolism
    "murmur": "HP:0030148",  # Heart murmur ("No murmur")
    **dict.fromkeys(("systolic murmur", "ejection systolic murmur"), "HP:0031664"),
    "pansystolic murmur": "HP:0031667",  # Holosystolic murmur
    **dict.fromkeys(("wheeze", "recurrent wheeze"), "HP:0030828"),  # Wheezing
    "pale stools": "HP:0011985",  # Acholic stools
    "congenital heart disease": "HP:0001627",  # Abnormal heart morphology (HPO: "congenital heart defect")
    **dict.fromkeys(("near syncope", "near syncopal episodes", "presyncopal episodes"), "HP:0031972"),  # Presyncope
    # lay and everyday words
    **dict.fromkeys(("short sightedness", "short sighted", "shortsightedness"), "HP:0000545"),  # Myopia
    "sunken chest": "HP:0000767",  # Pectus excavatum
    **dict.fromkeys(("hardly sweats", "reduced sweating", "decreased sweating"), "HP:0000966"),  # Hypohidrosis
    **dict.fromkeys(("forgetful", "increasingly forgetful"), "HP:0002354"),  # Forgetfulness
    **dict.fromkeys(("drools", "drools constantly", "dribbling"), "HP:0002307"),  # Drooling
    "lethargic": "HP:0001254",
    "confused": "HP:0001289",  # Confusion
    **dict.fromkeys(("tachypneic", "tachypnoeic"), "HP:0002789"),  # Tachypnea
    **dict.fromkeys(("died suddenly", "sudden unexplained death"), "HP:0001699"),  # Sudden death
    "diabetes": "HP:0000819",  # Diabetes mellitus ("diabetes on metformin")
    **dict.fromkeys(("hair thinning", "thinning hair", "thinning of the hair"), "HP:0008070"),  # Sparse hair
    **dict.fromkeys(("breast ca", "breast cancer"), "HP:0003002"),  # Breast carcinoma
    **dict.fromkeys(("raynauds", "raynaud"), "HP:0030880"),  # Raynaud phenomenon ("Raynaud's in winter")
    **dict.fromkeys(("reflexes are depressed", "depressed reflexes"), "HP:0001265"),  # Hyporeflexia
    **dict.fromkeys(("vibration reduced", "reduced vibration sense"), "HP:0002495"),  # Decreased vibration sense
    "hypothyroid": "HP:0000821",
    **dict.fromkeys(("low cholesterol", "low plasma cholesterol"), "HP:0003146"),  # Hypocholesterolemia
    **dict.fromkeys(("born prematurely", "born preterm", "ex prem", "ex premature"), "HP:0001622"),
}

#: From a third user test (50 notes, kept outside the benchmarks): adjectives, examination shorthand and lay
#: phrasings, each checked against the term HPO names.
FINDING_PHRASES |= {
    "hyperactive": "HP:0000752",  # Hyperactivity
    "constipated": "HP:0002019",  # Constipation
    "dehydrated": "HP:0001944",  # Dehydration
    **dict.fromkeys(("aggressive outbursts", "aggressive behavior", "aggressive behaviour"), "HP:0000718"),
    **dict.fromkeys(("sensitive to noise", "sensitivity to noise", "noise sensitivity"), "HP:0010780"),  # Hyperacusis
    **dict.fromkeys(
        ("mottled skin", "skin mottling", "mottling of the skin", "mottled feet", "mottled hands", "mottled legs"),
        "HP:0000965",  # Cutis marmorata
    ),
    **dict.fromkeys(("liver palpable", "palpable liver", "liver edge palpable", "palpable liver edge"), "HP:0002240"),
    **dict.fromkeys(("spleen palpable", "palpable spleen", "spleen tip palpable", "palpable spleen tip"), "HP:0001744"),
    **dict.fromkeys(
        ("short for age", "short for his age", "short for her age", "shortest in her class", "shortest in his class"),
        "HP:0004322",  # Short stature
    ),
    **dict.fromkeys(("romberg positive", "positive romberg", "romberg sign positive"), "HP:0002403"),
    **dict.fromkeys(
        ("lost her words", "lost his words", "lost words", "loss of words"), "HP:0002371"
    ),  # Loss of speech
    **dict.fromkeys(("abdo distended", "abdomen distended", "distended abdomen"), "HP:0003270"),
}

#: From a user test of case-report paragraphs (2026-11-28): regression, and names HPO spells otherwise. "Learning
#: difficulties" is left out: in British letters it means intellectual disability, in American ones a specific one.
FINDING_PHRASES |= {
    **dict.fromkeys(
        (
            *("lost her acquired words", "lost his acquired words", "loss of acquired words", "speech regression"),
            *("regression of speech", "regression in speech", "lost her speech", "lost his speech"),
            # "He lost speech at 2 years", "lost acquired words": as the possessive forms above
            *("lost speech", "lost acquired words", "lost acquired speech", "loss of acquired speech"),
        ),
        "HP:0002371",  # Loss of speech
    ),
    **dict.fromkeys(
        ("lost purposeful hand use", "loss of purposeful hand use", "lost purposeful hand movements"), "HP:0032588"
    ),  # Hand apraxia (HPO's synonym: "Lack of purposeful hand use")
    **dict.fromkeys(
        ("deteriorating vision", "worsening vision", "declining vision", "vision deteriorated", "vision deteriorating"),
        "HP:0000529",  # Progressive visual loss
    ),
    **dict.fromkeys(
        (
            *("declining school performance", "deteriorating school performance", "decline in school performance"),
            *("falling school performance", "worsening school performance"),
        ),
        "HP:0001268",  # Mental deterioration (HPO's synonym: "Cognitive decline")
    ),
    **dict.fromkeys(("heavy menstrual bleeding", "heavy periods"), "HP:0000132"),  # Menorrhagia
    **dict.fromkeys(("foamy cells", "foamy macrophages", "foamy histiocytes"), "HP:0003651"),  # Foam cells
    "microadenoma": "HP:0025694",  # Pituitary microadenoma: a microadenoma is the pituitary's in clinical use
    **dict.fromkeys(
        ("narrow bifrontal diameter", "decreased bifrontal diameter", "reduced bifrontal diameter"), "HP:0000341"
    ),  # Narrow forehead
    **dict.fromkeys(("squared iliac wings", "square iliac wings", "squared iliac wing"), "HP:0003177"),
    **dict.fromkeys(("frequent laughter", "excessive laughter", "easily provoked laughter"), "HP:0000748"),
    **dict.fromkeys(("visible veins", "prominent veins", "visible superficial veins"), "HP:0001015"),
    **dict.fromkeys(("bronzed skin", "bronze pigmentation", "bronzing of the skin"), "HP:0007574"),
    "fibroadenoma": "HP:0010619",  # Fibroadenoma of the breast, where fibroadenomas grow
    "prolonged jaundice": "HP:0006579",  # Prolonged neonatal jaundice: a newborn's jaundice beyond two weeks
    **dict.fromkeys(
        (
            *(
                "first degree heart block",
                "first-degree heart block",
                "1st degree heart block",
                "first degree av block",
            ),
            *("first-degree av block", "1st degree av block", "first-degree atrioventricular block"),
        ),
        "HP:0011705",  # First degree atrioventricular block
    ),
}

#: From a user test of clinic letters (a clinical geneticist's): the adjective, a shared verb's object, a screen.
FINDING_PHRASES |= {
    "obese": "HP:0001513",  # Obesity ("He is obese", "now obese (BMI 31 kg/m2, >99.6th centile)")
    # "then lost purposeful hand use and her few words": the object "lost" shares out (term_lookup._distributed)
    **dict.fromkeys(
        ("lost her few words", "lost his few words", "lost few words", "lost her first words", "lost his first words"),
        "HP:0002371",  # Loss of speech
    ),
    # HPO has no term of a newborn screen; a failed one is abnormal hearing, not yet a confirmed impairment
    **dict.fromkeys(
        (
            *("failed newborn hearing screen", "failed newborn hearing screening", "failed newborn hearing test"),
            *("failed neonatal hearing screen", "failed hearing screen", "failed newborn screening hearing test"),
        ),
        "HP:0000364",  # Hearing abnormality
    ),
}

#: A function said normal says its impairment is absent: "normal hearing", "hearing normal", "hearing is normal"
#: (Hearing impairment absent). Read by ``term_lookup`` only beside "normal", "intact" or "unremarkable": the noun
#: alone ("hearing test") names nothing.
NORMAL_FUNCTIONS: dict[str, str] = {
    "hearing": "HP:0000365",  # Hearing impairment
    "vision": "HP:0000505",  # Visual impairment
    "eyesight": "HP:0000505",
}

#: Phrases left out of the dictionary on purpose, and why: the account says so rather than "no HPO term matches".
UNMAPPED_PHRASES: dict[str, str] = dict.fromkeys(
    (
        *("learning disability", "learning disabilities", "learning difficulty", "learning difficulties"),
        *("learning disabled", "learning problems"),
    ),
    "ambiguous, not mapped: in British usage intellectual disability (HP:0001249), in American usage a specific "
    "learning disability (HP:0001328); name the one meant",
)
# Parental consanguinity is what the family is, not a finding of the patient, and HPO has no term for it: the account
# says so, denied ("Parents deny consanguinity", "non-consanguineous parents") or stated, where it said only "no HPO
# term matches these words". A denial comes first: the first phrase a note's words hold gives the reason.
UNMAPPED_PHRASES |= dict.fromkeys(
    (
        *("deny consanguinity", "denied consanguinity", "consanguinity denied", "consanguinity is denied"),
        *("no consanguinity", "no known consanguinity", "no parental consanguinity", "not consanguineous"),
        *("nonconsanguineous", "non consanguineous", "unrelated parents", "parents are not related"),
        *("parents not related", "consanguinity negative", "negative for consanguinity", "without consanguinity"),
    ),
    "said of the family, not of the patient: the parents are not related (no consanguinity), which HPO has no term for",
)
UNMAPPED_PHRASES |= dict.fromkeys(
    ("consanguinity", "consanguineous", "parents are related"),
    "said of the family, not of the patient: parental consanguinity, which HPO has no term for (it makes an "
    "autosomal recessive disorder likelier)",
)
