package eu.mchub.dss;

import com.sun.net.httpserver.HttpServer;

import org.bouncycastle.asn1.nist.NISTObjectIdentifiers;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.operator.DigestCalculator;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoGeneratorBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.tsp.TSPAlgorithms;
import org.bouncycastle.tsp.TimeStampRequest;
import org.bouncycastle.tsp.TimeStampResponse;
import org.bouncycastle.tsp.TimeStampResponseGenerator;
import org.bouncycastle.tsp.TimeStampTokenGenerator;

import java.io.FileReader;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.security.PrivateKey;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A test RFC 3161 time-stamping authority over HTTP (BouncyCastle, which DSS itself uses).
 *
 * <p>Usage: {@code TestTsa <key.pem (PKCS#8)> <chain.pem (TSA certificate first)>}. Listens
 * on a free loopback port, prints {@code http://127.0.0.1:<port>/tsa} on stdout and answers
 * {@code application/timestamp-query} POSTs until stdin closes. Test support only.
 */
public final class TestTsa {

    private TestTsa() {
    }

    public static void main(String[] args) throws Exception {
        PrivateKey key;
        try (PEMParser parser = new PEMParser(new FileReader(args[0]))) {
            key = new JcaPEMKeyConverter().getPrivateKey((PrivateKeyInfo) parser.readObject());
        }
        List<X509CertificateHolder> chain = new ArrayList<>();
        try (PEMParser parser = new PEMParser(new FileReader(args[1]))) {
            Object item;
            while ((item = parser.readObject()) != null) {
                chain.add((X509CertificateHolder) item);
            }
        }
        String alg = "EC".equals(key.getAlgorithm()) ? "SHA256withECDSA" : "SHA256withRSA";
        DigestCalculator sha256 = new JcaDigestCalculatorProviderBuilder().build()
            .get(new AlgorithmIdentifier(NISTObjectIdentifiers.id_sha256));
        TimeStampTokenGenerator tokens = new TimeStampTokenGenerator(
            new JcaSimpleSignerInfoGeneratorBuilder().build(alg, key, chain.get(0)),
            sha256,
            new ASN1ObjectIdentifier("1.3.6.1.4.1.99999.1.1"));
        tokens.addCertificates(new JcaCertStore(chain));
        TimeStampResponseGenerator responses = new TimeStampResponseGenerator(tokens, TSPAlgorithms.ALLOWED);
        AtomicLong serial = new AtomicLong(1);

        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/tsa", exchange -> {
            try (InputStream in = exchange.getRequestBody()) {
                TimeStampRequest request = new TimeStampRequest(in.readAllBytes());
                TimeStampResponse response;
                synchronized (responses) {
                    response = responses.generate(
                        request, BigInteger.valueOf(serial.getAndIncrement()), new Date());
                }
                byte[] body = response.getEncoded();
                exchange.getResponseHeaders().add("Content-Type", "application/timestamp-reply");
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            } catch (Exception e) {
                byte[] body = String.valueOf(e).getBytes();
                exchange.sendResponseHeaders(400, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
        });
        server.start();
        System.out.println("http://127.0.0.1:" + server.getAddress().getPort() + "/tsa");
        System.out.flush();
        while (System.in.read() != -1) {
            // serve until the parent closes stdin
        }
        server.stop(0);
    }
}
