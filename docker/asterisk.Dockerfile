# Asterisk 22 from Debian's own package, with callrec's configuration (dialplan/) and sounds.
FROM debian:sid-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      asterisk asterisk-modules asterisk-core-sounds-en-gsm \
 && rm -rf /var/lib/apt/lists/* \
 && mv /etc/asterisk /etc/asterisk.debian-sample && mkdir /etc/asterisk
COPY dialplan/ /etc/asterisk/
COPY callrec_ari/sounds/*.wav /usr/share/asterisk/sounds/callrec/
# Everything Asterisk writes is created here (the package leaves /run/asterisk to systemd).
RUN mkdir -p /var/spool/asterisk/recording /run/asterisk /var/log/asterisk /var/lib/asterisk \
      /usr/share/asterisk/sounds/callrec/custom \
 && chown -R asterisk:asterisk /etc/asterisk /var/spool/asterisk /var/lib/asterisk /var/log/asterisk \
      /run/asterisk /usr/share/asterisk/sounds/callrec/custom
HEALTHCHECK --interval=5s --timeout=3s --retries=20 CMD asterisk -rx "core show uptime" | grep -q "System uptime"
CMD ["/usr/sbin/asterisk", "-f", "-n", "-U", "asterisk", "-G", "asterisk"]
