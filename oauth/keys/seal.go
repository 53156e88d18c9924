package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

// kekSize is the size of a key-encryption key: AES-256.
const kekSize = 32

// newAEAD returns the cipher that seals private keys under kek: AES-256-GCM
// with a random 96-bit nonce per message, prefixed to the ciphertext. With
// random nonces one key may seal about 2³² messages (NIST SP 800-38D §8.3);
// a key is sealed once per rotation.
func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != kekSize {
		return nil, fmt.Errorf("key-encryption key is %d bytes, want %d", len(kek), kekSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return aead, nil
}

// additionalData binds a sealed key to its kid, so that a sealed key copied
// to another row does not open there. The prefix keeps it apart from
// anything else the same KEK may come to seal.
func additionalData(kid string) []byte {
	return []byte("gaia-iam signing key " + kid)
}

// seal encrypts and authenticates plaintext, the private key of kid: the
// result is the 12-byte nonce, the ciphertext and the 16-byte tag.
func seal(aead cipher.AEAD, kid string, plaintext []byte) []byte {
	return aead.Seal(nil, nil, plaintext, additionalData(kid))
}

// open decrypts what seal returned for kid. It fails if the key is not the
// one that sealed, or if the ciphertext or the kid changed.
func open(aead cipher.AEAD, kid string, sealed []byte) ([]byte, error) {
	return aead.Open(nil, nil, sealed, additionalData(kid))
}
