// A self-signed certificate for 127.0.0.1 (P-256, valid until 2126), made with:
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
//     -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout key.pem -out cert.pem
// Trusted by nothing: only for tests that a reserver verifies what it talks to.
export const selfSignedKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvsd2SUDmkacJpxaJ
WW/Qn8AuVcwhuAg1YE1OkxNwWjShRANCAARfgMTzkbIskS5XEQJN9u8CyEDXztgz
n8EdG6iCx+846/BoL8sNOuB1qUB+1NVvJ/Fc75H+tZ1UhqwWZ2vRpFZz
-----END PRIVATE KEY-----
`;

export const selfSignedCert = `-----BEGIN CERTIFICATE-----
MIIBkDCCATagAwIBAgIUHhdCLrr9WhpnbdTcN1gXPr2JmT0wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEzMDE4Mzg1NFoYDzIxMjYxMTA2
MTgzODU0WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARfgMTzkbIskS5XEQJN9u8CyEDXztgzn8EdG6iCx+846/BoL8sNOuB1
qUB+1NVvJ/Fc75H+tZ1UhqwWZ2vRpFZzo2QwYjAdBgNVHQ4EFgQUA1mCLmQrqhFw
2Kr9d0hAAxJrORswHwYDVR0jBBgwFoAUA1mCLmQrqhFw2Kr9d0hAAxJrORswDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC
IG/C6oOzDpm1Z+fLzrAMPLqYGHaYon2KgVreDj+V1pV0AiEAiOtow4Co1coKYDsd
KNmyx9GF6a0SwctIFIocbnV/kes=
-----END CERTIFICATE-----
`;
