# Asterisk 22 from Debian's own package, with callrec's configuration (dialplan/) and sounds.
FROM debian:sid-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      asterisk asterisk-modules asterisk-core-sounds-en-gsm \
 && rm -rf /var/lib/apt/lists/* \
 && mv /etc/asterisk /etc/asterisk.debian-sample && mkdir /etc/asterisk
COPY dialplan/ /etc/asterisk/
COPY callrec_ari/sounds/*.wav /usr/share/asterisk/sounds/callrec/
RUN mkdir -p /var/spool/asterisk/recording \
 && chown -R asterisk:asterisk /etc/asterisk /var/spool/asterisk /var/lib/asterisk /var/log/asterisk /run/asterisk
CMD ["/usr/sbin/asterisk", "-f", "-n", "-U", "asterisk", "-G", "asterisk"]
