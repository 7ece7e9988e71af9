"""SIPp scenarios for the integration tests' parties (SIPp itself: tests/support/sipp.py).

Each party sends its own tone as RTP (8 kHz mu-law, payload type 0) from the moment it is
answered, so the recording shows who was heard when.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv
"""

HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{name}">
"""


def tone_file(directory: Path, freq: int, seconds: int = 120) -> Path:
    """A raw mu-law tone for rtp_stream (made with sox)."""
    path = directory / f"tone{freq}.ulaw"
    if not path.exists():
        subprocess.run(
            ["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw", str(path),
             "synth", str(seconds), "sine", str(freq), "vol", "0.5"],
            check=True,
        )
    return path


def uac_scenario(*, tone: Path, talk_ms: int, expect: int = 200, auth: bool = True,
                 hangup: bool = True, headers: str = "", cancel_after_ms: int = 0) -> str:
    """A subscriber line placing a call: INVITE (with digest auth), then talk_ms of its tone, then BYE.

    With ``expect`` other than 200 the call must fail with that final answer. With hangup=False the
    caller waits for the other side's BYE instead.
    """
    # An empty line would end the headers: only add lines that have something in them.
    extra = "".join(f"\n      {h}" for h in headers.splitlines() if h.strip())
    invite = f"""
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-inv{{cseq}}
      From: <sip:[user]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: {{cseq}} INVITE
      Contact: <sip:[user]@[local_ip]:[local_port]>
      Max-Forwards: 70{{auth}}{extra}
      Content-Type: application/sdp
      Content-Length: [len]

{SDP}
    ]]>
  </send>
"""
    out = HEAD.format(name="uac")
    if auth:
        out += invite.replace("{cseq}", "1").replace("{auth}", "")
        out += """
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[user]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Content-Length: 0
    ]]>
  </send>
"""
        out += invite.replace("{cseq}", "2").replace("{auth}", "\n      [authentication]")
        cseq = 2
    else:
        out += invite.replace("{cseq}", "1").replace("{auth}", "")
        cseq = 1
    if cancel_after_ms:
        return out + f"""
  <recv response="100" optional="true"/>
  <recv response="180"/>
  <pause milliseconds="{cancel_after_ms}"/>
  <send>
    <![CDATA[
      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-inv{cseq}
      From: <sip:[user]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: {cseq} CANCEL
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-inv{cseq}
      From: <sip:[user]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Content-Length: 0
    ]]>
  </send>
</scenario>
"""
    out += """
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
"""
    if expect != 200:
        out += f"""
  <recv response="{expect}"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[user]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Content-Length: 0
    ]]>
  </send>
</scenario>
"""
        return out
    out += f"""
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:[user]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Content-Length: 0
    ]]>
  </send>
  <nop><action><exec rtp_stream="{tone},-1,0"/></action></nop>
"""
    out += _hangup_or_wait(talk_ms, hangup, cseq + 1, uac=True)
    return out + "</scenario>\n"


def _hangup_or_wait(talk_ms: int, hangup: bool, cseq: int, uac: bool) -> str:
    if hangup:
        if uac:
            frm = "<sip:[user]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]"
            to = "<sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]"
            url = "[next_url]"
            routes = "\n      [routes]"  # the Record-Route set of the 200 (a proxy in the path: the edge)
        else:
            frm, to, url = "[$to];tag=[pid]SIPpTag01[call_number]", "[$from]", "[$contact]"
            routes = ""
        return f"""
  <pause milliseconds="{talk_ms}"/>
  <nop><action><exec rtp_stream="pause"/></action></nop>
  <send retrans="500">
    <![CDATA[
      BYE {url} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]{routes}
      From: {frm}
      To: {to}
      Call-ID: [call_id]
      CSeq: {cseq} BYE
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
"""
    return """
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"""


def uas_scenario(*, tone: Path | None = None, talk_ms: int = 0, answer: str = "200",
                 ring_ms: int = 0, hangup: bool = False) -> str:
    """The other party. answer="200" answers after ring_ms; "486"/"480"/... refuses; "none" never answers
    (rings until CANCEL)."""
    capture = """
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="to"/>
      <ereg regexp="sip:[^&gt;;]*" search_in="hdr" header="Contact:" assign_to="contact"/>
    </action>""" if hangup else ""
    out = HEAD.format(name="uas") + """
  <recv request="INVITE">{capture}
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
""".replace("{capture}", capture)
    if answer == "none":
        return out + """
  <recv request="CANCEL"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: [cseq] INVITE
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""
    if answer != "200":
        return out + f"""
  <pause milliseconds="{ring_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 {answer} Refused
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""
    out += f"""
  <pause milliseconds="{ring_ms}"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

{SDP}
    ]]>
  </send>
  <recv request="ACK" optional="false"/>
"""
    if tone is not None:
        out += f'  <nop><action><exec rtp_stream="{tone},-1,0"/></action></nop>\n'
    if hangup:
        out += _hangup_or_wait(talk_ms, True, 1, uac=False)
    else:
        out += _hangup_or_wait(talk_ms, False, 0, uac=False)
    return out + "</scenario>\n"


def register_scenario(expires: int = 3600, auth: bool = True) -> str:
    reg = """
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[user]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[user]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: {cseq} REGISTER
      Contact: <sip:[user]@[local_ip]:[local_port]>
      Expires: {expires}
      Max-Forwards: 70{auth}
      Content-Length: 0
    ]]>
  </send>
"""
    if not auth:  # a registrar that does not challenge (the cluster's edge, cluster/kamailio.cfg)
        return HEAD.format(name="register") + reg.format(cseq=1, expires=expires, auth="") + \
            '  <recv response="200"/>\n</scenario>\n'
    return (HEAD.format(name="register")
            + reg.format(cseq=1, expires=expires, auth="")
            + '  <recv response="401" auth="true"/>\n'
            + reg.format(cseq=2, expires=expires, auth="\n      [authentication]")
            + '  <recv response="200"/>\n</scenario>\n')
