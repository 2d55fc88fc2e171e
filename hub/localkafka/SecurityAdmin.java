// mchub's Kafka security tool: SCRAM credentials and ACLs through Kafka's own Admin client
// (kafka-clients from Maven Central), because the Python client has no API for either.
//
// Usage: java -cp <kafka libs>/*:<classes> SecurityAdmin <admin client properties file>
// Reads one command per line on stdin, answers on stdout, one line per result:
//   scram <user> <password>                          -> "ok scram <user>"
//   acl <principal> <resource> <pattern> <name> <op> -> collected, created on "apply"
//   apply                                            -> "ok acls <n>"
//   list                                             -> "acl ..." lines, then "ok list <n>"
//   users                                            -> "user <name>" lines, then "ok users <n>"
// Any failure prints "error <message>" and exits with status 1.

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public final class SecurityAdmin {
    private SecurityAdmin() {}

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            props.load(in);
        }
        List<AclBinding> pending = new ArrayList<>();
        BufferedReader reader =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (Admin admin = Admin.create(props)) {
            String line;
            while ((line = reader.readLine()) != null) {
                String[] words = line.trim().split("\\s+");
                if (words.length == 0 || words[0].isEmpty()) {
                    continue;
                }
                switch (words[0]) {
                    case "scram" -> {
                        admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(
                                words[1],
                                new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                words[2]))).all().get();
                        System.out.println("ok scram " + words[1]);
                    }
                    case "acl" -> pending.add(new AclBinding(
                            new ResourcePattern(ResourceType.valueOf(words[2]), words[4],
                                    PatternType.valueOf(words[3])),
                            new AccessControlEntry(words[1], "*", AclOperation.valueOf(words[5]),
                                    AclPermissionType.ALLOW)));
                    case "apply" -> {
                        if (!pending.isEmpty()) {
                            admin.createAcls(pending).all().get();
                        }
                        System.out.println("ok acls " + pending.size());
                        pending.clear();
                    }
                    case "list" -> {
                        Collection<AclBinding> found =
                                admin.describeAcls(AclBindingFilter.ANY).values().get();
                        for (AclBinding b : found) {
                            System.out.println(String.join(" ", "acl", b.entry().principal(),
                                    b.pattern().resourceType().name(),
                                    b.pattern().patternType().name(), b.pattern().name(),
                                    b.entry().operation().name()));
                        }
                        System.out.println("ok list " + found.size());
                    }
                    case "users" -> {
                        var users = admin.describeUserScramCredentials().all().get().keySet();
                        for (String user : users) {
                            System.out.println("user " + user);
                        }
                        System.out.println("ok users " + users.size());
                    }
                    default -> throw new IllegalArgumentException("unknown command " + words[0]);
                }
                System.out.flush();
            }
        } catch (ExecutionException e) {
            System.out.println("error " + e.getCause());
            System.exit(1);
        } catch (RuntimeException e) {
            System.out.println("error " + e);
            System.exit(1);
        }
    }
}
