"""Replay folds, the envelope fast path, the report page and the progress line (pure)."""

from __future__ import annotations

import io

from hub.audit.progress import ProgressBar
from hub.audit.replay import CredentialStateFold, LearnerIndexFold
from hub.audit.report import render_html
from hub.audit.synthetic import credential_key_for, learner_for
from hub.contract.build import credential_id
from hub.stream.chain import ID_FIELDS, EnvelopeReader
from hub.stream.reading import ReadProgress
from tests.unit.audit.audit_support import canonical_values, chain


def test_the_envelope_fast_path_equals_the_avro_reader() -> None:
    reader = EnvelopeReader()
    log, _ = chain(canonical_values(12))
    for values in log.values():
        for value in values:
            name, ids = reader.ids(value)
            head_name, head = reader.head(value)
            assert name == head_name
            assert [None if v is None else v.decode() for v in ids] == [
                head["envelope"][f] for f in ID_FIELDS
            ]


def test_credential_state_fold_issues_revokes_and_round_trips_a_snapshot() -> None:
    values = [v for _, v in canonical_values(8)]  # 0,1,2 issued; 3 revokes 2; ...
    fold = CredentialStateFold()
    for value in values:
        fold.add(value)
    rows = {r["credentialKey"]: r for r in fold.rows()}
    revoked = rows[credential_key_for(2)]
    assert revoked["status"] == "revoked" and revoked["revocationReason"] == "DATA_ERROR"
    assert revoked["issuedBy"] == "he:issue-000000002"
    assert revoked["revokedBy"] == "he:revoke-000000002"
    assert revoked["keys"] == ["he:issue-000000002", "he:revoke-000000002"]
    assert revoked["credentialId"] == credential_id(credential_key_for(2))
    assert rows[credential_key_for(0)]["status"] == "active"
    assert rows[credential_key_for(0)]["learnerId"] == learner_for(0)
    # re-applying records (a resume after a crash) changes nothing
    again = CredentialStateFold()
    again.load(fold.rows())
    for value in values[-3:]:
        again.add(value)
    assert list(again.rows()) == list(fold.rows())


def test_learner_index_fold() -> None:
    fold = LearnerIndexFold()
    for _, value in canonical_values(5):
        fold.add(value)
    rows = {r["learnerId"]: r for r in fold.rows()}
    assert rows[learner_for(2)]["credentials"] == [credential_id(credential_key_for(2))]
    restored = LearnerIndexFold()
    restored.load(fold.rows())
    assert list(restored.rows()) == list(fold.rows())


def test_report_page_is_self_contained_and_escaped() -> None:
    doc = {
        "from": "2025-06-01T00:00:00+00:00",
        "to": "2025-06-02T00:00:00+00:00",
        "filters": {"source": None, "awardingBody": None},
        "generatedAt": "2025-06-02T00:00:00+00:00",
        "totals": dict.fromkeys(
            ("issued", "revoked", "enrolment", "rejected", "conflict", "held"), 1
        ),
        "bySourceAndAwardingBody": [
            {
                "sourceSystem": "FIR",
                "awardingBody": "<script>",
                "issued": 1,
                "revoked": 1,
                "enrolment": 1,
                "rejected": 1,
                "conflict": 1,
                "held": 1,
            }
        ],
        "revocations": [],
        "deliveries": {"destinations": [], "failedOrPending": [], "outstanding": []},
        "anomalies": {"holdsNeverMatched": [], "conflicts": []},
        "daily": [
            {
                "day": "2025-06-01",
                "issued": 3,
                "revoked": 1,
                "enrolment": 0,
                "rejected": 0,
                "conflict": 0,
                "held": 0,
            }
        ],
    }
    page = render_html(doc)
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count('class="bar"') == 2


def test_progress_line_has_rate_and_eta() -> None:
    stream = io.StringIO()
    bar = ProgressBar("replay", stream=stream, interval=0)
    bar.started -= 2.0
    bar(ReadProgress(done=50, total=100))
    line = stream.getvalue()
    assert "50/100" in line and "ev/s" in line and "ETA" in line
