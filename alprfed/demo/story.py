"""The scripted story `alprfed demo` tells, against a federation of real processes.

Every step is an ordinary client call any officer, clerk, supervisor or auditor could make
with their own certificate (the profiles in the layout); nothing reaches into a service.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from agency_node.synthetic import CLINIC_VISITOR, STALE, SUSPECT
from alprfed import canonical, wire
from alprfed.client import GatewayClient, exigent_approval_request, fetch_access_log
from alprfed.config import TLSConfig
from alprfed.demo.layout import Layout
from alprfed.demo.processes import FederationProcesses
from alprfed.ledger import NoteVerifier, iter_entries, verify_ledger, verify_tlog_proof
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.ledger.entry import decode_entry
from alprfed.ledger.remote import GrpcLedgerSource
from alprfed.ledger.tlog_proof import TlogProof
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.messages import Outcome, Requester, SearchQuery
from alprfed.messages.evidence import LoggedEntry, SearchEvidence
from alprfed.models import AgencyKind, Purpose, TimeWindow
from alprfed.policy.reconcile import reconcile
from alprfed.policy.replay import audit_entries
from alprfed.policy.warrants import WARRANT_SALT_BYTES, Warrant
from alprfed.query import QueryAnswer, QueryInput
from alprfed.query_view import render_answer
from alprfed.rpc.tls import secure_channel
from alprfed.signing import (
    SEARCH_QUERY_TYPE,
    WARRANT_TYPE,
    SigningKey,
)
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc, node_pb2, node_pb2_grpc

DAY, HOUR = 86_400, 3_600


# The story's narration, on stdout beside the commands' own output.
console = Console()


@dataclass
class Checks:
    """What the story expects to see; `alprfed demo` exits non-zero if any fails."""

    failures: list[str] = field(default_factory=list)

    def expect(self, condition: bool, what: str) -> None:
        mark = "[green]✓[/]" if condition else "[bold red]✗[/]"
        console.print(f"  {mark} {what}")
        if not condition:
            self.failures.append(what)


@dataclass(frozen=True)
class Case:
    """One investigation of the story: who asks, about which plate, why, under which warrant."""

    agency: str
    person: str
    plate: str
    days: int  # the window reaches back this far
    purpose: Purpose
    case_number: str
    court: str = ""
    clerk: str = ""
    judge: str = ""
    warrant_id: str = ""

    def window(self, now: int) -> TimeWindow:
        return TimeWindow(now - self.days * DAY, now)


ROBBERY = Case(
    "sjpd",
    "officer-garcia",
    SUSPECT.plate,
    7,
    Purpose.ROBBERY,
    "SJ-2026-04417",
    "santa-clara-superior",
    "clerk-lee",
    "Hon. M. Alvarez",
    "w-sc-2026-0142",
)
IMMIGRATION = Case(
    "ice-ero",
    "agent-reyes",
    SUSPECT.plate,
    7,
    Purpose.IMMIGRATION_ENFORCEMENT,
    "ERO-26-1193",
    "us-district-dc",
    "clerk-baker",
    "Hon. R. Okafor",
    "w-dc-2026-0077",
)
CLINIC = Case(
    "johnson-county-so",
    "deputy-hale",
    CLINIC_VISITOR.plate,
    21,
    Purpose.REPRODUCTIVE_HEALTH_CARE_INVESTIGATION,
    "JC-26-0571",
    "johnson-county-district",
    "clerk-cruz",
    "Hon. T. Briggs",
    "w-jc-2026-0031",
)
STALE_CAR = Case(
    "norfolk-pd",
    "officer-brooks",
    STALE.plate,
    40,
    Purpose.STOLEN_VEHICLE,
    "NF-26-3302",
    "norfolk-circuit",
    "clerk-adams",
    "Hon. L. Carter",
    "w-nf-2026-0208",
)
AMBER = Case("sjpd", "officer-garcia", SUSPECT.plate, 2, Purpose.AMBER_ALERT, "SJ-AMBER-0912")
WITNESSED_WAIT_S = 10.0  # how long the auditor waits for the last answers to be witnessed


def outcome_of(answer: QueryAnswer, agency: str) -> Outcome:
    return next(o.outcome for o in answer.outcomes if o.agency_id == agency)


def states_refusing(answer: QueryAnswer) -> set[str]:
    return {r.state for o in answer.outcomes for r in o.reasons if r.gate == "law"}


class Story:
    def __init__(self, layout: Layout, processes: FederationProcesses) -> None:
        self.layout = layout
        self.processes = processes
        self.now = int(time.time())
        self.checks = Checks()
        self.logged_up_to = 0  # the ledger size that covers every answer the story got

    def connection(self, organization: str, person: str) -> GatewayClient:
        return GatewayClient.from_profile(self.layout.profile(organization, person), timeout_s=15.0)

    def stub(self, organization: str, person: str) -> gateway_pb2_grpc.GatewayStub:
        return gateway_pb2_grpc.GatewayStub(self.connection(organization, person).channel())

    def chapter(self, title: str, text: str) -> None:
        console.print()
        console.print(Rule(f"[bold]{title}[/]", align="left"))
        console.print(text, highlight=False)

    def register_warrant(self, case: Case) -> str:
        """The court signs the case's warrant with its key; its clerk registers it."""
        warrant = Warrant(
            warrant_id=case.warrant_id,
            court=case.court,
            judge=case.judge,
            # Issued as the story starts, covering sightings up to then: a historical search,
            # not tracking (the story's queries end at self.now too).
            issued_at=self.now,
            expires_at=self.now + 30 * DAY,
            agency=case.agency,
            plates=(case.plate,),
            window=case.window(self.now),
            offense=case.purpose,
            prospective=False,
            salt=secrets.token_hex(WARRANT_SALT_BYTES),
        )
        envelope = SigningKey.load(self.layout.court_key(case.court)).sign_envelope(
            WARRANT_TYPE, warrant.to_canonical()
        )
        status = self.stub(case.court, case.clerk).RegisterWarrant(
            gateway_pb2.RegisterWarrantRequest(warrant=wire.envelope_to_pb(envelope)), timeout=15
        )
        console.print(
            f"  {case.judge} of {case.court} signs warrant [bold]{case.warrant_id}[/] for "
            f"{case.agency}: plate {case.plate}, {case.purpose.value}; clerk {case.clerk} "
            f"registers it (ledger entry {status.ledger_index})",
            highlight=False,
        )
        return case.warrant_id

    def ask(self, case: Case, *, warrant_id: str = "", approval_id: str = "") -> QueryAnswer:
        """The case's officer queries, citing the warrant or approval given (or neither)."""
        window = case.window(self.now)
        query = QueryInput.create(
            plate=case.plate,
            window_from=window.start,
            window_to=window.end,
            purpose=case.purpose,
            case_number=case.case_number,
            warrant_id=warrant_id,
            exigent_approval_id=approval_id,
        )
        authority = (
            f"warrant {warrant_id}"
            if warrant_id
            else f"exigent approval {approval_id}"
            if approval_id
            else "no warrant"
        )
        console.print(
            f"  [dim]{case.person} of {case.agency}: plate {query.plate}, "
            f"{query.purpose.value}, case {query.case_number}, {authority}[/]",
            highlight=False,
        )
        answer = self.connection(case.agency, case.person).query(query)
        self.logged_up_to = max(self.logged_up_to, answer.ledger_index + 1)
        render_answer(answer, console, show_sightings=False)
        return answer

    def wait_witnessed(self, source: GrpcLedgerSource) -> None:
        """The gateway answers before its outcome entry's witness round: the auditor starts
        once the published checkpoint covers every answer (else `reconcile` would find node
        answers whose outcome is not public yet)."""
        give_up = time.monotonic() + WITNESSED_WAIT_S
        while read_checkpoint(source.latest_checkpoint()).size < self.logged_up_to:
            if time.monotonic() > give_up:
                break  # the audit below then reports what is missing
            time.sleep(0.05)

    # --- the story --------------------------------------------------------------------------

    def witness_policy(self) -> WitnessPolicy | None:
        if not self.layout.spec.witnesses:
            return None
        return WitnessPolicy.load(self.layout.witness_policy)

    def show_witnesses(self, answer: QueryAnswer) -> set[str]:
        """Who cosigned the checkpoint of the officer's receipt (per the witness policy)."""
        policy = self.witness_policy()
        if policy is None:
            return set()
        note = TlogProof.parse(answer.ledger_proof).checkpoint
        witnessed = policy.check(note)
        names = set(witnessed.cosigners)
        console.print(
            f"  the receipt's checkpoint (size {witnessed.checkpoint.size}) is cosigned by "
            f"{', '.join(sorted(names))}",
            highlight=False,
        )
        return names

    def run(self, receipt_path: Path) -> Checks:
        self.receipt_path = receipt_path
        warrant = self.lawful_query(receipt_path)
        self.without_warrant()
        self.immigration()
        self.reproductive_health_care()
        self.retention()
        self.node_killed(warrant)
        self.witness_killed(warrant)
        self.stolen_gateway_key()
        exigent_query = self.amber_alert()
        self.oversight(receipt_path, exigent_query)
        return self.checks

    def lawful_query(self, receipt_path: Path) -> str:
        self.chapter(
            "1. A court issues a warrant; an officer's lawful query",
            "A robbery suspect's car has been seen across the country. The Santa "
            "Clara court authorizes San Jose PD to search one plate for one week.",
        )
        warrant = self.register_warrant(ROBBERY)
        answer = self.ask(ROBBERY, warrant_id=warrant)
        receipt_path.write_text(answer.ledger_proof)
        with_results = {
            o.state for o in answer.outcomes if o.outcome == Outcome.RESULTS and o.sightings
        }
        self.checks.expect(
            len(with_results) >= 3,
            f"sightings from several states: {', '.join(sorted(with_results))}",
        )
        self.checks.expect(
            {"VA", "WA"} <= states_refusing(answer),
            "Virginia and Washington keep their data in-state, each citing its law",
        )
        console.print(f"  the officer keeps the ledger receipt: {receipt_path.name}")
        if self.layout.spec.witnesses:
            cosigners = self.show_witnesses(answer)
            self.checks.expect(
                len(cosigners) >= self.layout.spec.witness_quorum,
                f"the ledger published the answer only once {self.layout.spec.witness_quorum} "
                "independent witnesses had cosigned its checkpoint",
            )
        return warrant

    def without_warrant(self) -> None:
        self.chapter("2. The same query without a warrant", "No warrant, no search, anywhere.")
        answer = self.ask(ROBBERY)
        self.checks.expect(
            all(o.outcome == Outcome.DENIED for o in answer.outcomes),
            "refused by every agency: warrant.required",
        )

    def immigration(self) -> None:
        self.chapter(
            "3. An immigration-enforcement query",
            "ICE obtains a federal warrant and asks the federation for a plate.",
        )
        answer = self.ask(IMMIGRATION, warrant_id=self.register_warrant(IMMIGRATION))
        refusing = states_refusing(answer)
        self.checks.expect(
            {"CA", "IL", "WA"} <= refusing,
            "refused by California, Illinois and Washington law, each citing its "
            f"statute (refusing: {', '.join(sorted(refusing))})",
        )

    def reproductive_health_care(self) -> None:
        self.chapter(
            "4. An out-of-state reproductive-health-care investigation",
            "A Texas sheriff looks for a car seen at a family planning clinic.",
        )
        answer = self.ask(CLINIC, warrant_id=self.register_warrant(CLINIC))
        self.checks.expect(
            all(o.outcome == Outcome.DENIED for o in answer.outcomes),
            "refused by every agency holding data, each citing its rule",
        )

    def retention(self) -> None:
        self.chapter(
            "5. Reaching back past a state's retention",
            "A Norfolk officer asks for 40 days of a car last seen 22 to 34 days ago. "
            "Virginia keeps 21 days (Va. Code 2.2-5517); Minnesota keeps 60.",
        )
        answer = self.ask(STALE_CAR, warrant_id=self.register_warrant(STALE_CAR))
        norfolk = next(o for o in answer.outcomes if o.agency_id == "norfolk-pd")
        self.checks.expect(
            norfolk.outcome == Outcome.RESULTS and not norfolk.sightings,
            "Norfolk's node answers but returns nothing older than 21 days",
        )
        older = [
            s for o in answer.outcomes for s in o.sightings if s.observed_at < self.now - 21 * DAY
        ]
        self.checks.expect(
            bool(older),
            f"{len(older)} older sighting(s) come only from a state "
            "whose retention still holds them",
        )

    def node_killed(self, warrant: str) -> None:
        self.chapter("6. A node dies mid-story", "Chicago's node process is killed (SIGKILL).")
        self.processes.kill("chicago-pd")
        answer = self.ask(ROBBERY, warrant_id=warrant)
        self.checks.expect(
            not answer.complete and outcome_of(answer, "chicago-pd") == Outcome.UNAVAILABLE,
            "the answer is partial and says so; the other agencies answered",
        )

    def witness_killed(self, warrant: str) -> None:
        if not self.layout.spec.witnesses:
            return
        victim = self.layout.spec.witnesses[-1].witness_id
        self.chapter(
            "7. A witness goes down",
            f"The {victim} witness process is killed (SIGKILL). Two of three witnesses "
            "still make a quorum.",
        )
        self.processes.kill(f"witness-{victim}")
        answer = self.ask(ROBBERY, warrant_id=warrant)
        cosigners = self.show_witnesses(answer)
        self.checks.expect(
            victim not in cosigners and len(cosigners) >= self.layout.spec.witness_quorum,
            "the federation is still witnessed: the answer's checkpoint carries the quorum "
            "without the dead witness",
        )

    def stolen_gateway_key(self) -> None:
        self.chapter(
            "8. An insider steals the gateway's keys",
            "Someone copies the gateway's query-signing key and its TLS identity and asks San "
            "Jose's node directly, outside the ledger: first with no evidence, then with the "
            "evidence of a lawful query from chapter 1 replayed for a new one.",
        )
        key = SigningKey.load(self.layout.root / "keys" / "gateway-query.pem")
        principal = self.layout.pki / "orgs" / "federation" / "principals" / "gateway"
        tls = TLSConfig(
            ca=self.layout.pki / "ca.pem", cert=principal / "cert.pem", key=principal / "key.pem"
        )
        refused = 0
        with secure_channel(self.layout.node_addresses["sjpd"], tls) as channel:
            stub = node_pb2_grpc.AgencyNodeStub(channel)
            for replay in (False, True):
                forged = self.forged_query()
                evidence = self.replayed_evidence(forged) if replay else b""
                try:
                    stub.Search(
                        node_pb2.SearchRequest(
                            query=wire.envelope_to_pb(
                                key.sign_envelope(SEARCH_QUERY_TYPE, forged.to_canonical())
                            ),
                            evidence=evidence,
                        ),
                        timeout=10,
                    )
                except grpc.RpcError as exc:
                    console.print(
                        f"  {'replayed evidence' if replay else 'no evidence'}: the node "
                        f"answers {exc.code().name}: {exc.details()}"
                    )
                    refused += exc.code() == grpc.StatusCode.PERMISSION_DENIED
        self.checks.expect(
            refused == 2,
            "the node released nothing: a gateway signature without a witnessed ledger "
            "decision for this very query is worth nothing",
        )

    def reconcile_nodes(self, source: GrpcLedgerSource, size: int) -> None:
        """The auditor fetches every live node's access log and holds it against the ledger."""
        logs = {}
        tls = self.connection("ca-state-auditor", "auditor-patel").tls
        for agency, address in self.layout.node_addresses.items():
            if agency not in self.processes.processes:
                continue  # chapter 6 killed it
            with secure_channel(address, tls) as channel:
                logs[agency] = list(fetch_access_log(channel, ()))
        report = reconcile(iter_entries(source, end=size), logs)
        self.checks.expect(
            report.clean and report.matched > 0,
            f"the nodes' own access logs agree with the ledger: {report.matched} answers "
            "match their logged decisions and receipts",
        )
        self.checks.expect(
            report.attempts_without_decision >= 2,
            f"and they show {report.attempts_without_decision} queries that reached San Jose "
            "with no logged decision: the stolen key, caught",
        )

    @staticmethod
    def forged_query() -> SearchQuery:
        now = int(time.time())
        return SearchQuery(
            query_id=uuid.uuid4().hex,
            addressees=("sjpd",),
            issued_at=now,
            expires_at=now + 60,
            nonce=secrets.token_hex(16),
            plate=CLINIC_VISITOR.plate,
            window=TimeWindow(now - 30 * DAY, now),
            purpose=Purpose.ROBBERY,
            case_number="NONE",
            requester=Requester("sjpd", "officer-garcia", "CA", AgencyKind.LOCAL),
            warrant_id=ROBBERY.warrant_id,
            exigent=False,
        )

    def replayed_evidence(self, forged: SearchQuery) -> bytes:
        """The evidence of the lawful chapter-1 query, read from the ledger as any insider
        with read access could, and re-addressed to the forged query."""
        decision = decode_entry(TlogProof.parse(self.receipt_path.read_text()).extra or b"")
        index = decision.index
        with self.connection("ca-state-auditor", "auditor-patel").channel() as channel:
            ledger = GrpcLedgerSource(channel)
            checkpoint = ledger.latest_checkpoint()
            size = read_checkpoint(checkpoint).size
            bundle = SearchEvidence(
                query_id=forged.query_id,
                checkpoint=checkpoint,
                decision=LoggedEntry(
                    index,
                    ledger.entries(index, index + 1)[0],
                    tuple(ledger.inclusion_proof(index, size)),
                ),
                plate_salt=bytes(32),  # the insider cannot open the commitment
            )
        return canonical.encode(bundle.to_canonical())

    def amber_alert(self) -> str:
        self.chapter(
            "9. An AMBER alert: exigent, co-approved, flagged for review",
            "A child is missing. There is no time for a warrant: a sergeant "
            "co-approves the officer's query, which may look back 72 hours.",
        )
        approval = self.stub("sjpd", "sgt-nguyen").ApproveExigent(
            exigent_approval_request(
                officer=AMBER.person,
                plate=AMBER.plate,
                purpose=AMBER.purpose.value,
                case_number=AMBER.case_number,
                note="child seen entering this car",
                tls=self.connection("sjpd", "sgt-nguyen").tls,
            ),
            timeout=15,
        )
        console.print(
            f"  sgt-nguyen co-approves, signing with her own certificate key: "
            f"{approval.approval_id}"
        )
        answer = self.ask(AMBER, approval_id=approval.approval_id)
        self.checks.expect(
            answer.flagged_for_review and any(o.sightings for o in answer.outcomes),
            "the exigent query went through and awaits judicial review",
        )
        return answer.query_id

    def oversight(self, receipt_path: Path, exigent_query: str) -> None:
        self.chapter(
            "10. Oversight: the state auditor verifies on their own",
            "With the ledger's verifier key, the witness policy and an auditor certificate only.",
        )
        vkey = self.layout.vkey_file.read_text().strip()
        verifier = NoteVerifier.from_vkey(vkey)
        policy = self.witness_policy()
        channel = self.connection("ca-state-auditor", "auditor-patel").channel()
        source = GrpcLedgerSource(channel)
        self.wait_witnessed(source)
        report = verify_ledger(
            source,
            [verifier],
            state_file=self.layout.root / "auditor-state.json",
            witness_policy=policy,
        )
        witnessed = (
            f"; the published checkpoint carries the witness quorum "
            f"({', '.join(sorted(report.cosigners))})"
            if policy is not None
            else ""
        )
        self.checks.expect(
            True,
            f"ledger verified: {report.size} entries, every checkpoint "
            f"signature, the whole chain and tree recomputed{witnessed}",
        )
        receipt = verify_tlog_proof(
            receipt_path.read_text(),
            [verifier],
            origin=self.layout.spec.origin,
            witness_policy=policy,
        )
        self.checks.expect(
            receipt.entry.kind == "query_decision",
            f"the officer's receipt verifies offline: decision entry {receipt.entry.index}"
            f" is in the log of size {receipt.checkpoint.size}",
        )
        audit = audit_entries(iter_entries(source))
        self.checks.expect(
            audit.clean,
            "audit replay: every logged decision agrees with the policy that was in force",
        )
        self.checks.expect(
            exigent_query in audit.awaiting_review, "the AMBER-alert query awaits judicial review"
        )
        self.reconcile_nodes(source, report.size)
        table = Table(title="ledger summary", show_header=True, header_style="bold")
        for column in ("what", "count"):
            table.add_column(column)
        for agency, count in sorted(audit.by_requester.items()):
            table.add_row(f"queries by {agency}", str(count))
        for purpose, count in sorted(audit.by_purpose.items()):
            table.add_row(f"purpose {purpose}", str(count))
        for outcome, count in sorted(audit.by_outcome.items()):
            table.add_row(f"answers {outcome}", str(count))
        table.add_row("warrants used", str(len(audit.warrants_used)))
        table.add_row("exigent queries awaiting review", str(len(audit.awaiting_review)))
        table.add_row("malformed requests recorded", str(audit.rejected))
        console.print(table)
        channel.close()
