#!/usr/bin/env python3
"""An independent check of the ESP in a `kmesh-sim demo` capture.

The per-pair keys are derived here from the specification (spec section 4,
docs/xfrm-layout.md) with Python's hashlib; nothing is shared with
kmesh/ipsec/key_deriver.cc or sim/datapath/esp_transform.cc. The key of the
ESP flow from node src to node dst under one PSK is the first 36 bytes of

    SHA-512(psk || src_ip || dst_ip || src_boot_id[0:36] || dst_boot_id[0:36])

(a 32-byte AES-256 key, then the 4-byte GCM salt), where the IPs are each
node's first address of the family, as text, and the PSK is the base64
`aeadKey` of a Kmesh key file (`{"spi":N,"aeadKeyName":...,"aeadKey":...}`).
CLUSTER_JSON is the demo's cluster.json: node_info.<node>.addresses and
.boot_id.

Commands:
  esp-sa CLUSTER_JSON KEY_FILE...
      Prints tshark's esp_sa table, one record per line (the format of
      `-o uat:esp_sa:RECORD` and of the `esp_sa` file of a profile): every
      ordered pair of nodes, every family both have, every key file.
  verify-icv CLUSTER_JSON PCAP KEY_FILE...
      Authenticates and decrypts every ESP packet of the pcap with AES-GCM
      (RFC 4106) as an SA with extended sequence numbers does (RFC 4303
      2.2.1: the AAD is SPI || seq_hi || seq_lo, seq_hi 0 here), which
      tshark 4.0 cannot: it always builds the 8-byte AAD of a 32-bit
      sequence number. Prints "spi N: A authenticated, F failed" per SPI and
      "unknown SA: U" (ESP whose SA none of the keys describes); exits 1 if
      anything failed or was unknown, 3 if the `cryptography` module is
      missing.
"""

import base64
import hashlib
import ipaddress
import json
import struct
import sys

BOOT_ID_PREFIX = 36
KEY_LENGTH = 36
ESP_PROTOCOL = 50

# pcap link types whose header precedes the IP packet: length of that header.
LINK_HEADER_LENGTH = {
    1: 14,  # Ethernet (IP only, no VLAN tag).
    101: 0,  # Raw IP.
    113: 16,  # Linux cooked capture (SLL).
    276: 20,  # Linux cooked capture v2 (SLL2), what `-i any` writes.
}


def pair_key(psk, src_ip, dst_ip, src_boot, dst_boot):
    for boot in (src_boot, dst_boot):
        if len(boot) < BOOT_ID_PREFIX:
            raise ValueError("boot ID shorter than 36 characters: %r" % boot)
    digest = hashlib.sha512(
        psk
        + src_ip.encode()
        + dst_ip.encode()
        + src_boot[:BOOT_ID_PREFIX].encode()
        + dst_boot[:BOOT_ID_PREFIX].encode()
    ).digest()
    return digest[:KEY_LENGTH]


def first_address(addresses, version):
    for a in addresses:
        if ipaddress.ip_address(a).version == version:
            return a
    return None


def load_psks(paths):
    """[(spi, psk)] from Kmesh key files."""
    out = []
    for path in paths:
        with open(path) as f:
            key = json.load(f)
        if key.get("aeadKeyName") != "rfc4106(gcm(aes))":
            raise ValueError("%s: not rfc4106(gcm(aes))" % path)
        if key.get("length") != 128:
            raise ValueError("%s: ICV length is not 128 bits" % path)
        out.append((int(key["spi"]), base64.b64decode(key["aeadKey"], validate=True)))
    return out


def security_associations(cluster_path, key_paths):
    """[(family, src_ip, dst_ip, spi, key)] for every pair, family and key."""
    with open(cluster_path) as f:
        nodes = json.load(f)["node_info"]
    sas = []
    for spi, psk in load_psks(key_paths):
        for src, s in sorted(nodes.items()):
            for dst, d in sorted(nodes.items()):
                if src == dst:
                    continue
                for version in (4, 6):
                    src_ip = first_address(s["addresses"], version)
                    dst_ip = first_address(d["addresses"], version)
                    if src_ip is None or dst_ip is None:
                        continue
                    key = pair_key(psk, src_ip, dst_ip, s["boot_id"], d["boot_id"])
                    sas.append((version, src_ip, dst_ip, spi, key))
    return sas


def esp_sa(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    for version, src_ip, dst_ip, spi, key in security_associations(argv[0], argv[1:]):
        print(
            '"IPv%d","%s","%s","0x%08x","AES-GCM with 16 octet ICV [RFC4106]",'
            '"0x%s","NULL",""' % (version, src_ip, dst_ip, spi, key.hex())
        )
    return 0


def esp_packets(pcap_path):
    """Yields (src_ip, dst_ip, esp_bytes) for each ESP packet of the pcap."""
    with open(pcap_path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise ValueError("%s: not a pcap file" % pcap_path)
    link_type = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    if link_type not in LINK_HEADER_LENGTH:
        raise ValueError("%s: link type %d not handled" % (pcap_path, link_type))
    link_header = LINK_HEADER_LENGTH[link_type]
    offset = 24
    while offset + 16 <= len(data):
        length = struct.unpack(endian + "I", data[offset + 8 : offset + 12])[0]
        packet = data[offset + 16 : offset + 16 + length][link_header:]
        offset += 16 + length
        if not packet:
            continue
        version = packet[0] >> 4
        if version == 4 and len(packet) >= 20 and packet[9] == ESP_PROTOCOL:
            header = (packet[0] & 0x0F) * 4
            src = str(ipaddress.IPv4Address(packet[12:16]))
            dst = str(ipaddress.IPv4Address(packet[16:20]))
            yield src, dst, packet[header:]
        elif version == 6 and len(packet) >= 40 and packet[6] == ESP_PROTOCOL:
            src = str(ipaddress.IPv6Address(packet[8:24]))
            dst = str(ipaddress.IPv6Address(packet[24:40]))
            yield src, dst, packet[40:]


def verify_icv(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    try:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        print("the python3 cryptography module is missing")
        return 3
    sas = {
        (ipaddress.ip_address(src).compressed, ipaddress.ip_address(dst).compressed, spi): key
        for _, src, dst, spi, key in security_associations(argv[0], argv[2:])
    }
    authenticated, failed, unknown = {}, {}, 0
    for src, dst, esp in esp_packets(argv[1]):
        if len(esp) < 8 + 8 + 16:
            unknown += 1
            continue
        spi, seq = struct.unpack(">II", esp[:8])
        key = sas.get((src, dst, spi))
        if key is None:
            unknown += 1
            continue
        nonce = key[32:] + esp[8:16]
        aad = esp[:4] + struct.pack(">II", 0, seq)
        try:
            AESGCM(key[:32]).decrypt(nonce, esp[16:], aad)
            authenticated[spi] = authenticated.get(spi, 0) + 1
        except InvalidTag:
            failed[spi] = failed.get(spi, 0) + 1
    for spi in sorted(set(authenticated) | set(failed)):
        print("spi %d: %d authenticated, %d failed" % (spi, authenticated.get(spi, 0), failed.get(spi, 0)))
    print("unknown SA: %d" % unknown)
    return 1 if failed or unknown else 0


def main(argv):
    commands = {"esp-sa": esp_sa, "verify-icv": verify_icv}
    if len(argv) < 2 or argv[1] not in commands:
        sys.stderr.write(__doc__)
        return 2
    return commands[argv[1]](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
