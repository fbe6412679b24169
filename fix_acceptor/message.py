"""A FIX message as the acceptor handles it: ordered `(tag, value)` fields, and the tags in use.

Values are `str` (FIX text is ASCII; bytes outside it are decoded as latin-1 so that any frame
can be represented and answered). The order of fields is kept, since repeating groups are
positional (FIX.md §3.6: an entry starts at its first member tag and continues while tags belong
to the group). Header fields (8, 9, 35, 49, 56, 34, 52, 43, 122, ...) and the trailer (10) are
fields like any other in a decoded message; `fix_acceptor.codec.encode` adds 8, 9 and 10.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

__all__ = ["Field", "Message", "Tag"]

Field = tuple[int, str]


class Tag:
    """Tag numbers used by the acceptor (FIX.md §2, §3), named as in FIX."""

    BeginString: Final = 8
    BodyLength: Final = 9
    CheckSum: Final = 10
    MsgType: Final = 35
    SenderCompID: Final = 49
    TargetCompID: Final = 56
    MsgSeqNum: Final = 34
    SendingTime: Final = 52
    PossDupFlag: Final = 43
    PossResend: Final = 97
    OrigSendingTime: Final = 122
    SenderSubID: Final = 50
    # session
    EncryptMethod: Final = 98
    RawDataLength: Final = 95
    RawData: Final = 96
    HeartBtInt: Final = 108
    ResetSeqNumFlag: Final = 141
    DefaultApplVerID: Final = 1137
    TestReqID: Final = 112
    BeginSeqNo: Final = 7
    EndSeqNo: Final = 16
    GapFillFlag: Final = 123
    NewSeqNo: Final = 36
    RefSeqNum: Final = 45
    RefTagID: Final = 371
    RefMsgType: Final = 372
    SessionRejectReason: Final = 373
    Text: Final = 58
    CancelOrdersOnDisconnect: Final = 8013
    ListenerSession: Final = 20126
    MessageRetentionPeriod: Final = 20200
    UseDollars: Final = 21005
    SkipPendingExecReports: Final = 21011
    UseExpiredOrdStatus: Final = 21012
    EnableIocCancelReport: Final = 21007
    PreserveOriginalOrderQty: Final = 21008
    # orders
    ClOrdID: Final = 11
    OrigClOrdID: Final = 41
    OrderID: Final = 37
    ExecID: Final = 17
    ExecType: Final = 150
    OrdStatus: Final = 39
    ExecInst: Final = 18
    OrderQty: Final = 38
    OrdType: Final = 40
    Price: Final = 44
    Side: Final = 54
    Symbol: Final = 55
    TimeInForce: Final = 59
    ExpireTime: Final = 126
    TransactTime: Final = 60
    LeavesQty: Final = 151
    CumQty: Final = 14
    AvgPx: Final = 6
    LastPx: Final = 31
    LastQty: Final = 32
    LastMkt: Final = 30
    OrdRejReason: Final = 103
    CxlRejReason: Final = 102
    CxlRejResponseTo: Final = 434
    AllocAccount: Final = 79
    NoPartyIDs: Final = 453
    PartyID: Final = 448
    PartyRole: Final = 452
    SecondaryClOrdID: Final = 526
    SelfTradePreventionType: Final = 2964
    CancelOrderOnPause: Final = 21006
    LongQty: Final = 704
    ShortQty: Final = 705
    NoMiscFees: Final = 136
    MiscFeeAmt: Final = 137
    MiscFeeCurr: Final = 138
    MiscFeeType: Final = 139
    MiscFeeBasis: Final = 891
    TrdMatchID: Final = 880
    AggressorIndicator: Final = 1057
    ClearingBusinessDate: Final = 715
    NoCollateralAmountChanges: Final = 1703
    CollateralAmountChange: Final = 1704
    CollateralAmountType: Final = 1705
    MassCancelRequestType: Final = 530
    MassCancelResponse: Final = 531
    MassCancelRejectReason: Final = 532
    BusinessRejectRefID: Final = 379
    BusinessRejectReason: Final = 380
    # order groups
    OrderGroupID: Final = 20130
    OrderGroupAction: Final = 20131
    OrderGroupContractsLimit: Final = 20132
    # drop copy
    BeginExecID: Final = 21001
    EndExecID: Final = 21002
    ResendEventCount: Final = 21003
    EventResendRejectReason: Final = 21004
    # market data
    SubscriptionRequestType: Final = 263
    NoRelatedSym: Final = 146
    NoMDEntries: Final = 268
    MDEntryType: Final = 269
    MDEntryPx: Final = 270
    MDEntrySize: Final = 271
    MDUpdateAction: Final = 279
    AggressorSide: Final = 2446
    MDReqRejReason: Final = 281
    MDReqID: Final = 262
    LastUpdateTime: Final = 779


class Message:
    """An ordered list of fields with lookups by tag.

    Args:
        fields: `(tag, value)` pairs in wire order.
        well_formed: The maker vouches that every tag is positive and every value non-empty
            (the codec, which checks that for the whole frame at once); the session layer then
            skips its own field-by-field check.
    """

    __slots__ = ("_index", "_indexed", "_msg_type", "fields", "well_formed")

    def __init__(self, fields: Iterable[Field] = (), *, well_formed: bool = False) -> None:
        self.fields: list[Field] = fields if type(fields) is list else list(fields)
        self.well_formed = well_formed
        self._index: dict[int, str] | None = None
        self._indexed = 0
        self._msg_type = ""  # MsgType once found (fields are added, never edited in place)

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and other.fields == self.fields

    def __repr__(self) -> str:
        return "Message(" + "|".join(f"{t}={v}" for t, v in self.fields) + ")"

    @property
    def msg_type(self) -> str:
        """MsgType (35), or "" when absent."""
        if self._msg_type:
            return self._msg_type
        fields = self.fields
        # 35 comes first in a message being built and third in a decoded one (after 8 and 9)
        for position in (0, 2):
            if len(fields) > position and fields[position][0] == 35:
                self._msg_type = fields[position][1]
                return self._msg_type
        self._msg_type = self.get(Tag.MsgType) or ""
        return self._msg_type

    def get(self, tag: int, default: str | None = None) -> str | None:
        """The first value of `tag`."""
        return self.index().get(tag, default)

    def index(self) -> dict[int, str]:
        """Tag -> first value, for reading a request field by field (do not modify it).

        Rebuilt when fields were added (lookups dominate: a request is read field by field, and
        its fields are never edited in place).
        """
        index = self._index
        if index is None or self._indexed != len(self.fields):
            index = dict(reversed(self.fields))  # the first value of a tag wins
            self._index = index
            self._indexed = len(self.fields)
        return index

    def get_all(self, tag: int) -> list[str]:
        """Every value of `tag`, in order (members of a repeating group)."""
        return [value for t, value in self.fields if t == tag]

    def has(self, tag: int) -> bool:
        return any(t == tag for t, _ in self.fields)

    def append(self, tag: int, value: str) -> None:
        if tag <= 0 or not value:
            self.well_formed = False
        self.fields.append((tag, value))
