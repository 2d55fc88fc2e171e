package eu.mchub.dss;

import eu.europa.esig.dss.diagnostic.CertificateRevocationWrapper;
import eu.europa.esig.dss.diagnostic.CertificateWrapper;
import eu.europa.esig.dss.diagnostic.DiagnosticData;
import eu.europa.esig.dss.diagnostic.SignatureWrapper;
import eu.europa.esig.dss.enumerations.Indication;
import eu.europa.esig.dss.enumerations.SignatureLevel;
import eu.europa.esig.dss.enumerations.SubIndication;
import eu.europa.esig.dss.jaxb.object.Message;
import eu.europa.esig.dss.model.FileDocument;
import eu.europa.esig.dss.model.x509.CertificateToken;
import eu.europa.esig.dss.service.crl.OnlineCRLSource;
import eu.europa.esig.dss.service.http.commons.CommonsDataLoader;
import eu.europa.esig.dss.simplereport.SimpleReport;
import eu.europa.esig.dss.spi.DSSUtils;
import eu.europa.esig.dss.spi.validation.CommonCertificateVerifier;
import eu.europa.esig.dss.spi.x509.CommonTrustedCertificateSource;
import eu.europa.esig.dss.spi.x509.aia.DefaultAIASource;
import eu.europa.esig.dss.validation.SignedDocumentValidator;
import eu.europa.esig.dss.validation.reports.Reports;

import java.io.File;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;

/**
 * Validates signed documents with the EU DSS library and its default validation policy.
 *
 * <p>Usage: {@code DssValidate --anchor <CA certificate, PEM or DER> <file>...}. Every file
 * is validated in this one JVM; revocation data is fetched online (CRL distribution points,
 * AIA caIssuers) with no OCSP source. Prints one JSON array to stdout: per file its
 * {@code file}, {@code format} (e.g. JAdES-BASELINE-B), {@code indication},
 * {@code subIndication}, {@code errors}, {@code warnings}, the signing certificate's
 * {@code crlDistributionPoints} and the {@code revocation} data DSS found for it.
 */
public final class DssValidate {

    private DssValidate() {
    }

    public static void main(String[] args) throws Exception {
        List<File> anchors = new ArrayList<>();
        List<File> files = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if ("--anchor".equals(args[i]) && i + 1 < args.length) {
                anchors.add(new File(args[++i]));
            } else {
                files.add(new File(args[i]));
            }
        }
        if (anchors.isEmpty() || files.isEmpty()) {
            System.err.println("usage: DssValidate --anchor CA.pem FILE...");
            System.exit(2);
        }
        CommonTrustedCertificateSource trusted = new CommonTrustedCertificateSource();
        for (File anchor : anchors) {
            CertificateToken token = DSSUtils.loadCertificate(anchor);
            trusted.addCertificate(token);
        }
        StringBuilder out = new StringBuilder("[");
        for (int n = 0; n < files.size(); n++) {
            // a fresh verifier and data loader per file: no CRL cached from an earlier file
            CommonsDataLoader loader = new CommonsDataLoader();
            CommonCertificateVerifier verifier = new CommonCertificateVerifier();
            verifier.setTrustedCertSources(trusted);
            verifier.setCrlSource(new OnlineCRLSource(loader));
            verifier.setOcspSource(null);
            verifier.setAIASource(new DefaultAIASource(loader));
            File file = files.get(n);
            SignedDocumentValidator validator =
                SignedDocumentValidator.fromDocument(new FileDocument(file));
            validator.setCertificateVerifier(verifier);
            Reports reports = validator.validateDocument();
            if (n > 0) {
                out.append(',');
            }
            out.append(report(file, reports));
        }
        out.append(']');
        System.out.println(out);
    }

    private static String report(File file, Reports reports) {
        SimpleReport simple = reports.getSimpleReport();
        DiagnosticData diagnostic = reports.getDiagnosticData();
        String id = simple.getFirstSignatureId();
        StringBuilder json = new StringBuilder("{");
        field(json, "file", file.getPath());
        if (id == null) {
            field(json, "format", null);
            field(json, "indication", null);
            json.append("\"signatures\":0}");
            return json.toString();
        }
        SignatureLevel format = simple.getSignatureFormat(id);
        Indication indication = simple.getIndication(id);
        SubIndication sub = simple.getSubIndication(id);
        field(json, "format", format == null ? null : format.toString());
        field(json, "indication", indication == null ? null : indication.name());
        field(json, "subIndication", sub == null ? null : sub.name());
        field(json, "signingTime", date(simple.getSigningTime(id)));
        field(json, "signedBy", simple.getSignedBy(id));
        messages(json, "errors", simple.getAdESValidationErrors(id));
        messages(json, "warnings", simple.getAdESValidationWarnings(id));
        SignatureWrapper signature = diagnostic.getSignatureById(id);
        CertificateWrapper cert = signature == null ? null : signature.getSigningCertificate();
        json.append("\"crlDistributionPoints\":");
        strings(json, cert == null ? List.of() : cert.getCRLDistributionPoints());
        json.append(",\"caIssuers\":");
        strings(json, cert == null ? List.of() : cert.getCAIssuersAccessUrls());
        json.append(",\"revocation\":[");
        if (cert != null) {
            List<CertificateRevocationWrapper> revocations = cert.getCertificateRevocationData();
            for (int i = 0; i < revocations.size(); i++) {
                CertificateRevocationWrapper r = revocations.get(i);
                if (i > 0) {
                    json.append(',');
                }
                json.append('{');
                field(json, "type", r.getRevocationType() == null ? null : r.getRevocationType().name());
                field(json, "status", r.getStatus() == null ? null : r.getStatus().name());
                field(json, "reason", r.getReason() == null ? null : r.getReason().name());
                field(json, "revocationDate", date(r.getRevocationDate()));
                field(json, "thisUpdate", date(r.getThisUpdate()));
                field(json, "nextUpdate", date(r.getNextUpdate()));
                json.append("\"source\":").append(quote(r.getSourceAddress())).append('}');
            }
        }
        json.append("]}");
        return json.toString();
    }

    private static void messages(StringBuilder json, String name, List<Message> messages) {
        json.append(quote(name)).append(":[");
        for (int i = 0; i < messages.size(); i++) {
            if (i > 0) {
                json.append(',');
            }
            Message m = messages.get(i);
            json.append("{\"key\":").append(quote(m.getKey()))
                .append(",\"value\":").append(quote(m.getValue())).append('}');
        }
        json.append("],");
    }

    private static void strings(StringBuilder json, List<String> values) {
        json.append('[');
        for (int i = 0; i < values.size(); i++) {
            if (i > 0) {
                json.append(',');
            }
            json.append(quote(values.get(i)));
        }
        json.append(']');
    }

    private static void field(StringBuilder json, String name, String value) {
        json.append(quote(name)).append(':').append(quote(value)).append(',');
    }

    private static String date(Date value) {
        return value == null ? null : DateTimeFormatter.ISO_INSTANT.format(value.toInstant());
    }

    private static String quote(String value) {
        if (value == null) {
            return "null";
        }
        StringBuilder s = new StringBuilder("\"");
        for (char c : value.toCharArray()) {
            switch (c) {
                case '"': s.append("\\\""); break;
                case '\\': s.append("\\\\"); break;
                case '\n': s.append("\\n"); break;
                case '\r': s.append("\\r"); break;
                case '\t': s.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        s.append(String.format("\\u%04x", (int) c));
                    } else {
                        s.append(c);
                    }
            }
        }
        return s.append('"').toString();
    }
}
