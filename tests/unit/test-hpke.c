/* Unit tests for lib/hpke.c: the RFC 9180 test vectors and the ways Open must fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "crypto.h"
#include "hpke.h"

struct seq_ct {
	unsigned seq;
	const char *ct;
};

struct export_vec {
	const char *context;
	size_t len;
	const char *value;
};

struct vector {
	uint16_t aead_id;
	const char *info, *ikm_r, *ikm_e, *sk_r, *sk_e, *pk_r, *pk_e, *enc;
	const char *key, *base_nonce, *exporter_secret, *pt;
	const struct seq_ct *cts;
	size_t n_cts;
	const struct export_vec *exports;
	size_t n_exports;
};

/*
 * Mode 0 (base), kem_id 32, kdf_id 1 from test-vectors.json of the CFRG
 * HPKE repository (github.com/cfrg/draft-irtf-cfrg-hpke, commit 5f503c5,
 * the vectors published with RFC 9180). Every encryption uses the plaintext
 * pt and the associated data "Count-<seq>". v_aes256 (aead_id 2) is dcr's
 * own suite, with all 257 encryptions; v_a1 (aead_id 1) is RFC 9180
 * Appendix A.1.1, with the encryptions the RFC prints.
 */
static const struct seq_ct v_aes256_cts[] = {
	{ 0, "e5d84cd531cfb583096e7cfa9641bd3079cf3a91cda813c52deb5f512be9931980a41de125a925cdad859d5b7a" },
	{ 1, "2c43aff25343fdbff864506f0818b9d87df84ea01b1a2144d23b4d40c26bf655fdf197fe40297a8aebeed5cc2d" },
	{ 2, "e0a8f2cf92ff61215edbb8c55dc31fe9e2eb42a5685867bb6854211542099f9e940c4b41c192bc390835b1a5f7" },
	{ 3, "a8ea1deafbe4935d0d484a026301a339d4668c43c37f5e289bf758c7aeb3e2812d0321c12b71978855883420c0" },
	{ 4, "448a8892f261cbb6bf5b7b64a4fae8a2c86492494b069c10525895d871c27c2f12cd17e0588fedaba9f7b0cd4c" },
	{ 5, "97c746402aa3728594f8c4f217d1e4059dae56c5fb401025ff601a61da903f2706355685954b2fdd518b81ef79" },
	{ 6, "91fe133508fe3fa6905ce19e6c8aba53994c168664088a2cd4300238236dcc90b5d2510d4315dfa8dc34bca821" },
	{ 7, "641346e222a57bd4cf1f0e6a6039c77c1684e6d01c8983b568552d338f080f1bf22d022a5ae863e12191aebc7f" },
	{ 8, "fc8446f5867c639c4c3f64079b2bee8987180b88e789a64297b91107886d739ec8f492e252bcdfb008cd6e061a" },
	{ 9, "c21ce89d9947297e1de30d9a59c0815ff1508a8930f63a91d29ed89bf2a20029830728045cd54d8a00b06f3520" },
	{ 10, "8c26159d7fb4c50cf29b0fd2d005d9a04dd42402f8e4e1dc9e2dd7cd0cf807f5b5a230554127c85510f95d945f" },
	{ 11, "75af5386f4a2d4a27dd20a490d1feb261dae8206a3201c02ab48ede53d2a92523a6105ab80bda1dbc1fe8e8deb" },
	{ 12, "1c8873e7af703e1e8f8085ee385e694173c9fe2d66cbdec2bdce1b3ace52c13d0ff321b41d8ce95bdce73c38ba" },
	{ 13, "10ce2c23ffa22de0f547b33afa2f34552200ae764c65d2acf6a5366e4d2c6dbd6614d964574b97687963b93400" },
	{ 14, "fb0e6d7705e829ab6509668862e65136cd0fd2cbe83a158c832ba630a2eceac6042019ec726aaee793961c663e" },
	{ 15, "4bd36bb99b6035a3ccd5f41998b6d49d5562c72225ddbdc82e38d5be180e6b0e69abe68d12be85239a664ac672" },
	{ 16, "1a1916713004d3a90c8651e9781a759e63eb70bf1d74db5d3871e01f4664ea5241035f9a09c50c7c64b877a2ce" },
	{ 17, "510ffbb00d709b3ce27bea8b8202f2fad82632d6429992b4c0f71728bb3291f20f696c4d2abd942dc9a8960b39" },
	{ 18, "25695fc573d452c33f7bb8f61a30d1719c75637cef9bd9c11e4b48583d926fed3a31ecacf54bcdaf42d7927f98" },
	{ 19, "913948ede40a023565bfd70f5f47c37ba2506e09b22d4784374659c90da556d3ecdef17e89b8f749e266f11b46" },
	{ 20, "3fd6c17dba8dbb2a4a0a5cd99aa0f1288f0f5bb02b720243d6b7c1cc92621c1efd0dae437ca54a67e2b3127f76" },
	{ 21, "a42358de18cb5495cff2729069fe0eb7996dbaf2138ec00f570107eca2a7c6950b9670b4ec66795de04685c2a7" },
	{ 22, "18b1f565922a8e9d58959adcf3cb25a3a907d2adb69d71e19c09268f173157f569b1d4279c93f840d08b746b4a" },
	{ 23, "34355c72a3581d4eacb5269e76f920a77242cf7525c8d734afe8921c87deaa0780ecf5998af6e5f84ecd689048" },
	{ 24, "ca6ded0b04e98db9bf3e62a3cd5604678e805c3ea8a8c5c390b29977662a344791b443d0aba785bd8b9fec65dd" },
	{ 25, "d9065c203b0782caeb631af2ad08d685fe121033ba52b94608557bcfc8007adf68e2c77a4b6a475ce1171b70d5" },
	{ 26, "27d600688c31400608c332d1af2bfadc89d22739e3cc06d6f0f1b356a61e214f5b0ddbf7caf47b71d2be8cefb1" },
	{ 27, "9ed3e280b8605d721509cedbce556ee4429aeb48c0fcd400e30d21074ed902ce77589ac1f5d282ff1bddfa8cfc" },
	{ 28, "3eb0855fa879f7dc8335b5d426a440f19acdc0fc721532304de51323464707643b40d54812599670936eed2208" },
	{ 29, "fffd265116539bf8b564f012fe3ec3a9dfccd9a5b9dc4ad9e2964e794c764ed63a759dcdef61ad043f7588a11b" },
	{ 30, "9e7fd0052e15aa19e46050a2661febaf6c5f326caa52dc439eef425662661388fb9a9be58ed989760a7494d3b1" },
	{ 31, "3693b73981435ddc8b081186f7a7f06fb4a20eb7c39c147f6db5cddb47e2f29f60f909c4504b2b789ddfb8e40b" },
	{ 32, "78fb4fbcb3de5bf9230fd0e41aab0b2899f331a4d806423d2a7cf91110b06ed76146a9b815fc0f5b1941d24de6" },
	{ 33, "8030cb70867979059a6e5848feb3c25f7504458da998c831594371141c868715578f3a62ed71dff8aff1afa2c9" },
	{ 34, "89488d044633eebb4a41f649bf3a5f1d17affd9d5d9baf5132c71f8ad057aea36fd31ff72fc78d6880444696f1" },
	{ 35, "4ef51de05e1e02e6a15e30d313a8905ec12e35adb3fdc6ce79ae56dc348e1a636531fabf5e2c78962d492bc0f6" },
	{ 36, "2242a8228e57ca15267e01abfe430f1d6e4aabada7e38f17f20df015657d81aa898d2291c631773628f8833e9d" },
	{ 37, "8d71a286ec6f330462aebcfe15a2e3b3382eee9fd2e57123565bb1aeb319112e9e53418a2bd48d16f68a59ca5c" },
	{ 38, "87e2b695e365860db3f4653bc16bbe0389dcf225838cfb1c480442899d38a204c474565039e3e120848257c1a3" },
	{ 39, "86adae7eee8d06e9a8855672e7cb80276deba65f0b5d17e5e8ef0cf80189e69c62187605ec2329330264127063" },
	{ 40, "ce603ee533d23f2f902aa82adf76c98a30d0c5865079840acc8ff62e7c774db66b3cb758137efd3134d790ec13" },
	{ 41, "904d3c71ad0a4f8d6a0f087fcd93059cc19da7c9983b59da32f83a614ffdd9cf65f0eb8bc2fe3ee64a4f5c4981" },
	{ 42, "71dfd30756f262628af5e5293a624eb219d2ef6d323d37096a2a94db6308e752f9659cba28d9072b71946d7868" },
	{ 43, "4f0d84759f83d02f49152f5852121e863ff3732bff98915799be5c8d5cfebfa2048ed83c0380888028f7dc081b" },
	{ 44, "dbb775112c824b1ff0689cb13ee056d84615d7c0604de71a825bf6998c41623d66124e7b871c7fc2ad4887ecda" },
	{ 45, "db01d24f44d167d78a9bff68828aa4340f99ff89e045476c4e918438801a02bfae77ad4161c298d958702535e9" },
	{ 46, "59ae01cfcc784d69f25c005e9dec4b7f74bc05f284166ed5a056918eae0d9e1a83fd028a52f9e6dc6ded369941" },
	{ 47, "8a5e074f9f14ffcaead4aaf599a97a8dd791c44833bd6676a09b7b87e29f1237ee926550d80a44378f025f650f" },
	{ 48, "c86b3b47535fd4c11610a1830a2847c6f7c7338d96656f8d04453edd1f5842af3397c6f762bbb39d4730f043fa" },
	{ 49, "053e3ec87d82425c627ed4c2d84ada5cc0b5253d6ae1cfbacff5c78f377f3c09ac89257d551772f6d2e053b344" },
	{ 50, "73a145c830aee75e0fea9e3c7bfa24c9a5b1c0602683a5502fc83dc4a087e0a9c9b142dccdbd3205fa22cad268" },
	{ 51, "98d8fb2a4bf5f772880010e4cdfdd992360189f45fe418f3736255423e60657a2a01c3e60b54d3efa932d090c5" },
	{ 52, "b8abe4d887990e1e527a8b7c2ffd661dd4b65c618d7afe742281bddcb39c8be07c143b061bc607b4a8f41a3fd5" },
	{ 53, "1090be42c502b75570c25a9b74777a4f3c981992156a9dae81c1f3a637c388ad55a42782f3785eda7fc00ed9bb" },
	{ 54, "2ed5cd3dd937bcc54bc8193cd81420350e5a94f233bf52428dade8033de59a4bd0d461c7680fee19d3eaa49790" },
	{ 55, "da16bc9c2b04ac234af1d2bbd11bb4bbfe6b32864e7381ac73604b2a870e7b8aaf10b128d8ca39b4e3f0ece26b" },
	{ 56, "f0d9acf36f857f86e02b06348e94d0fed7fb010d4e6365177ceba970c1a17e7f472240dbc585ee0cb137cd3b70" },
	{ 57, "32199e20199904c07595fc6e9307022a0548f8f56ccf664497b840ca50176a05c72469c3231e4220544114054a" },
	{ 58, "257884a96d90d927de623709a39cb34a5981007676ba96b2e1e4e3ff7dfc499acb265dbb4e1812428d5ae31514" },
	{ 59, "6e37fd96cc41de256d9363d9eb27868304ed5d979da469fcac98b4509719b10a8ed0c205abb05c7d2c9afb34bb" },
	{ 60, "7bfb5b966d1a92d893c0bc4ac5526a8a104ad929053d09481538b731c3e164ec46b4a6e6849ff1b6f732f3109f" },
	{ 61, "8a70b13706ba38fb0b279449984a4df5203c05d242bd7e6af70c9e96cb556abd9088f8e9b28121d050ed74908d" },
	{ 62, "44dd0d86d69344f086f4bbc3b75f04b1a5eade98e4d22ff130a28b4f0c60f7db23fe2c30c3e2f8269719b57dc1" },
	{ 63, "946181d28098f47928bef7199f777dd0d2653f08c326bfd10090b47bcd294735dca636428bad26d0c186ff56dc" },
	{ 64, "e080406e00c83bed2e94537263727d65ce99534cad2279dbf119eeb614cc5ba0b9103b7497fddd7b149579bad1" },
	{ 65, "a86551ee5f2b9cced52e1fe1cca9a8f7e63065515787ea7f4f9f4ff51bbd7698a79bfb853913c96fd714694b8e" },
	{ 66, "f450c832f51334c08e08461d087ea1d3b475ea1964e3075e41b227a57b6f8cf2b9ea8838d54784d0c533d5b5c8" },
	{ 67, "c25e6034c2c2283f5b8e6b7f659ee33eeaf3401ef43a81dc3d8ffbb9e7a32370311ceeba97c6a6287d3786321e" },
	{ 68, "5c30e2053f7f1501eb430edccca9cbc90f01b03200ece329b232fe0a4a9baf418adf846d402c2443fbd72aa360" },
	{ 69, "9df08200e50ce71aaa016d6f18768803a8bfd20ad405345f4cbe60cb28164eb897e5ad2675c90595d0df83b662" },
	{ 70, "56fb1c4a86f4642fe820f60b440e59be913ab632de2027defee6161e627ebd78fd30a606f119070460cba0aacd" },
	{ 71, "a8163438d8ea48dfdaa8ee0286efb83747796263c11e97cf910f8b56adef3f6bcc12c2aa885323d641985116ee" },
	{ 72, "10a66fd85dee2f3179efe704174f2fa4fdf0dc3839c6ba06a39f947dcd9422a32fb5b7df5d6a467bb0c5035d32" },
	{ 73, "50384f9efe0ae3adb9c834114862e989995ce080f353f0727c4ab2d41911755d154b4eb0a693b0e72124c465b4" },
	{ 74, "f74ad7b18fee3ca88f91c653102e6b877e1f8ceb73a3a5bd44323ba5194ac722e87e0656121001c39653bf2822" },
	{ 75, "3d0b638910c26c035444b494342b5059eaa485d51d49a7526bf5a76cf18ce92be1e88922f1ba27db8f29a3bc17" },
	{ 76, "4d17c2da2c4688c5ae15be76b2fedab1d677065ea79a452f3cd01c12926ef4991cbe8be7e7e5e69cf2666121d6" },
	{ 77, "7aa7ebe84cf4c35dccf15682fdca996164f1ec056455ace8b9544b9c1b1571b8bcfc104fc5e91f5d68d7738707" },
	{ 78, "c8300629a6cac3b1a7b408bb50e503191cbb79f102256d0bf3f25e33af30ae12e430af1bc9e44753a0e25a824e" },
	{ 79, "37c428339a389e8ce35daa03a99f5c07fbeebdcfc3e695434f2eaff8f90cae8902fef683e2ad238f2ba037b5a5" },
	{ 80, "39e65faf2c41d0bfeeceb28699042b62e976fbc3836e6a8a41ce5a5a85f9c428887792f725baf7ac68db824c9b" },
	{ 81, "0a478a818d4fc9da07c90487cef008949818fcaeeb5c1cc83f45d487321fd491ad58aa1863c4a5bb75e9db1b66" },
	{ 82, "32cf849851e83b92db5eccef5ad9464af0133d588fb0ecdc4a43ef0c03b1dad9889d673900e95c7e0051035426" },
	{ 83, "ba1e5814a83a84dada756914f38e7069718ce13e97442003ee37bcdfcb54032f8cc3e50bec78c2b8c2e6402d65" },
	{ 84, "3b91fac4f67af1a93f5ee312fe5c39bfa915a2317c2268b594e363d368d9df09022468a5719a3cc91d07f3c36f" },
	{ 85, "5888dab7e84869c9ad8d5a80db2e89da750780da4e3fd59f317c4440ab2ade53aa855254f534e8abf7b030e1ba" },
	{ 86, "9f8d979e4c9965a2e135e0e85849e8e51cb9edf27c5a48713c0342f78c6eb42f89c246884f42b925d508ac1118" },
	{ 87, "1a3fe6ad4387133e6dde596102384e034984b26ea9c2518690e43bfcbba241b8991b1fc22f5301f50a6c067b18" },
	{ 88, "35ec707cfbebcd8d29a94b2a53279f06d6dad1d67a85d26515b33805cbe9c8054de90590d90ecfa2e75b319426" },
	{ 89, "98b90ba87c954ef7a61833679d2d9634cf6c9e0e2bd346b9240cfee3cae141f3bb886ebc195019bf61ea174fd2" },
	{ 90, "29d4773ca7566d5e9e32701d6c46c70111d615f150663e76c62c8afbf3cde30395b424530e71fdcd91abad8235" },
	{ 91, "a3ddd151493934a6d056bfb33c3cdfb872204b2e40494b2c12c298aa2443563eba9baa7a984b4627a1aef12b35" },
	{ 92, "97fee29b1aecb67490fa440db94e8edb9d44da3db59466700235cd0613bd7f385621ef78bbd1a61207f61d58d7" },
	{ 93, "bcf3f399b75f170a59b61b5a8e381f1254d4599bfaf906ec035aaa89b862616163b32c0078ee65f57e372921c9" },
	{ 94, "b4fb4b40243ff48b3af21b81f86742faf71e9a2006c0dada26824262d3fddc428575c2b3fdebf84f777e6ea7b8" },
	{ 95, "3e4774d43410c80bdd17e94276dc4c9e593dfe1be6e7e512fb0ec7e8321f0825ae52cec95ec88e0a73cee34632" },
	{ 96, "149628f5c0a0c7a83a255124b93bae9acb5566caf56e2a44d425a045f5de8d8b99fdb859853195048e9a2c6838" },
	{ 97, "23353f67794a1ab146b07737c42dcbaf16fe80f5fe275808900ba8b64f7c277710f99887617c315749db003750" },
	{ 98, "7f682e36cd661cd0604d0d161b6747c9116fb2155698a880390b170c95a1a4ac56281296c3f92b643a43bd7bbb" },
	{ 99, "5060bd31673101670052d60db668ba50e577282f2d04ac7f55a968df8f1e656f3e54c042bc376dff57881449f2" },
	{ 100, "a1a9e8eba75c2d5492de5ac21b96067d86db723ca40446043d6b518ed99e546adc70e872b389c8b252f968ecca" },
	{ 101, "265c2fd6d576240fedc1e9d2e54ea85d4c6f948ccae75dbdf5131ab9e34e6b7c546fcd2799fd70bbbd80f4a403" },
	{ 102, "e5cd249047639b55351adec7054b4bad49ba504dfd012c24e6664b174aa7a96a8f43e3e74c24c72a2084a30f54" },
	{ 103, "718f45fba90a6d7fe762a963a3afddd422bcfb69b4d67f68a07f0963542d11a9f93fa7becbe1467a6d4ba2bd59" },
	{ 104, "83317a03f6e6f5c8a70c2ab5a13e594f71de479e37041bb665f2f7a1222cf3f989dba32842bcbc2e9d104eeb6b" },
	{ 105, "abb06a322a83405b85f2921f0faa10d142e7957cf39c0f61efe8d4ef7aa408dee8af86032f3c16a2e103753a75" },
	{ 106, "1846787cb992d807a28985c645ab2752cec1059250224f49da67cec65ff51d9ea1edaf496c1e35d74a39746296" },
	{ 107, "5c272f93edda401fb918c03179478563bf812a7012faf8662002e4e8d0c45b4faf1f8f1345b3cf93efbf0c3590" },
	{ 108, "b93b55d7382c44f03f7d5c376fb325f009ffa705b785922525f83d81226259cbf27d5cd1d5657eb18ab49c8f57" },
	{ 109, "78f36217e54bba52f594bb8f0ea26e189abb484421b838e983d5432151f5ee702310a7da43b3f3477b6446e42a" },
	{ 110, "98b9e8dd6a2e8dc8e2011ce879b160554365afb06bc62db992131c2ca3ccc83d83aac8157816921da8cd54933e" },
	{ 111, "4cf48574b0986e1b19c19af1254c62403ba242ca7e379407095bffa6e65baae539bb9fcbcab8a915d3c633013c" },
	{ 112, "94da1edb651a79419cb2c0ea1a89c14fa3a725335e3b3b10b71e97eca026526c9d61669ddef6fd5f71f15fb930" },
	{ 113, "aba2968f77b8170707f3b7affa945289ea56986a10070956efcbb48b6512e22f960f7a07e05c77d5debd69daef" },
	{ 114, "258e1acdaa6c7ba5e31bc1098ca42d844531b0039c399e05fac4c0c22a75fd4e308b288a24127334fdb1900b0c" },
	{ 115, "6a6d65cf15054487bc8f4840b86d3de127c1a90080051cb0242f4b730d4a526659a7c059fafb0a83d937d62e48" },
	{ 116, "b8bf351fbdabc9a5c4843b6ababef5ca9faf95868cec99c04d1d555e615005dffc6ad3e4eb84cf7379242575ec" },
	{ 117, "5a042d64ab6da7841bfe83766b66d10c272ee4dd3b9cf9bad9d8980f8b1d191e495ecedd6b28444bb6431c0457" },
	{ 118, "7198f5b0e7d9a041570522a57cfa5db3d488504339762fdba72e1593e164a7df5316c674a592c064cddc9a6c05" },
	{ 119, "fed6055b80361e2493dbcc48b658a35afaf6247ac4532063fa5812f10b7e4f259d557bac0f049b1b88577dd67e" },
	{ 120, "f6b7aaadedcdc89ef9147b3817494a3f43107e756990c415d4a2270312b0e257b756c0f1ba929ec722850fd762" },
	{ 121, "d4ea7ff429ccd38d86a3a35f1a86de748cd1c3fee83e7c85dc5e52bc5134dba53d4c85368733037a3845b1f8de" },
	{ 122, "86771ccb6999dc2085ed073c6f0216cfd8a84347456e7e411753a70b20389ca84f25968d4bcf3687b8250d2048" },
	{ 123, "76196c59dd912a7fdf3da785b02edb0669830f23a40b23364d9a8417c25a44747eebf5f02173bf254bb6535451" },
	{ 124, "6e5b768c7965f3292010ca206f966c30f1dd1c1faff520df04114442072c3890ae5bf14295eaf7cf8aa57330d7" },
	{ 125, "7547da149fc7eb27d904143355133e920beb405a8c245e5ca8e418297f09cb96aae615d24661f834e7dffcb018" },
	{ 126, "ebe8030330f423a2324eb863310d1c13c62ff7894c1495a0d31709ec1fe567e62954fdccac05064c412ac00409" },
	{ 127, "99f8286c7921b46fc90023361caa5b4b2e0c3d3b71b65de596876eb70a2211d89b4a90acc225b24954224919b1" },
	{ 128, "b9b31bc2dafa1c31154322fe4d23b5f130cdc8f6c92da9ccc937503f4173d5cbc6df18d7847b77aeaa11be32da" },
	{ 129, "cfa6ab15f19877c4c030522077c18d442d1cf220c1b021e4a5fa45d14e66044ef18d894360237281b55745d10b" },
	{ 130, "46dda78d75d4beb46b6e79c68abf242895d072602ff0984d22ba95281652a55a26d5a3209177bd0b78f80b6565" },
	{ 131, "ac8ddded913db97734636b351b65a3a7ec32de7c95f9c2f7ea2ce186a9cf39fdc6734d9d33631ff7b679047da7" },
	{ 132, "5a63fd958d7da5229b2ff04155cf5eaad8af24292de1b6f23dbc1a6c8b717c373171ff46e9aa6ccc87cc38739b" },
	{ 133, "c3de57f22a0ef3147b395ad8dd1b920e6e331fe19ffc4a4436cb0587ee1f9fdff890ff1a02fb9ab220594b7f9d" },
	{ 134, "ec42e72f0a8f228508141998a0007f59bf281a9a3648812ac0f53af320375a0abe4ccaa73712ab9de8b2cf8327" },
	{ 135, "a8ef6cd778dcbb82e48217e77e132aaaf3434370527978fc6d68df1aadb1f6b1f534b9aa58e993044871cb7d71" },
	{ 136, "59b52a68e18b64aaeec537a113586ca56f94190b4c8fc0074febe8238606534228854d2fd45f734ae726fe0b3a" },
	{ 137, "595214d9c7033b1790e9ae70b739332711baa4e199f5457bc72c033661b559c0f1c3802bc96c63953b9e2eb5e9" },
	{ 138, "f7970241897e25ef6c4fcb0224e5bcfb2cda3715c9baee3b3267c7b199c82459a2a95ac9c767d90d91962bde9f" },
	{ 139, "7569b68ca4ff6436c0a9e68b289ecb0d9eda9a1a60a3934ce13a92f57004a4b41e69a75c3d2a29cd2c929f5ff9" },
	{ 140, "1ed5e8fb578f67d31a061ce5853710851c98b8b61765f76299711d2e763af33ddb9eddfd537bb4b967e47d9260" },
	{ 141, "92ce89e443024b7a80b61d1f58d638cec095d7d4664e8549e51aba582d219fc1dc5083cc1021b441560f58bc03" },
	{ 142, "17103f6d8cb385452457040307ce7bc8f18705c9333ab51867f6cf62e51f76cf703b69b32e209c64e8777b05de" },
	{ 143, "6441c689667add0ed50eeedc0dd5c487aed506f2f360e768b7937f3d06b0b43c2c3f9d9c883d105e7c97d050e2" },
	{ 144, "1848f52015c0b917d755528d3d0ff70574ebbec2271d4c5c672a93caf37dc87695848b79b9f3caaf8937585296" },
	{ 145, "71795a914c78062acef28a7e6326c106dae40f564c73fb63d9f52a0522954caf5f3d8b59406c1e4c4efb4e78c6" },
	{ 146, "18b51007114b30a1ddf14efd7297ecc0a8ad9626408ed9c6bdd22676d9aa0c11aa3f0cdc525180d47b1fc2803e" },
	{ 147, "1cf6954862fe38be7871d362a3836ced64dcbf2ff114ccddcb6f248a24446505f73cef228f1217647d3e70d7d0" },
	{ 148, "41cbb2064d9db9f43e9fb550a057b07bf90925ff28df85dcc01e11e2160749e3a4003df7693baf73315d3052e0" },
	{ 149, "099e43c3d5305e2294566ac688e4a4c716f3b81373e941b6d28320c4f48acf9c8bf4f3bc32e59ee4931fadae79" },
	{ 150, "4f27075c65c4768779f33847f720f635de15d5074d3593391936e4f0db79abf016e548781313176bb83afd544e" },
	{ 151, "b49d1947610dc84a71bec3407420f4351d74a6f97dc59cdbaa4063de82998480ac8d8576100f8fc1dec8fd0415" },
	{ 152, "0452a34aad9eb57de1748b18570ee94d88d2b123cbde141525e53fad8da5e95fadc36d533d9ff158eaadddaedf" },
	{ 153, "4034b6231f8e1809c54bf4d394cc05104fd223357e95a60597c7df32d2d1b69e0b78adebc088b4364970c9088b" },
	{ 154, "f2cb80c67d9226f131dbd64963e27ca64e428e8f64c2c193c3798e2af548a4bf5d0b64d0e9a5105bea4340e40f" },
	{ 155, "e4be8d8aeb13fad3db0e7d266e89ee5ab7e3c861bdff61776d6356e786787e14e6d1328bcea2001cc48a013425" },
	{ 156, "c1084bd11719f15b3194ae5f84d278efe6a962c0b5f16123cbde523ff7ed2eb88d91293c22e3ad9683f5dfaf69" },
	{ 157, "91e9c1582a12184b4fbf796a81ae583f865a2170bb09f2ca46121824f19dfc7944044d533c046ad093f7eb820e" },
	{ 158, "8e4fecf7a15fc3b258900b55adad4aeb1386c6486193e4d3fda60fcb255635266791eca1cd76fc20b411955210" },
	{ 159, "671e011d0e3c57f73508f885c64dab5124a4283a9430168033f11ec0f1aaeafb7da3224a62264d2013baf4cf72" },
	{ 160, "8d27e076edbcba9f6a9e58b62914463dfa5bfba6f419807d6664659230a947e069756098429285b590acc89927" },
	{ 161, "7ed3247399afa43f2e3db2697f9e37e94f71d4d210e2ba4f3896eb62bed1308df32e5a63a16c7915538ce7463a" },
	{ 162, "535bc957326207f14417a5c79dfa28103f488169039d81986319c0d54ec72ee23b8154b26bfa9e1e6941bab038" },
	{ 163, "b7a029e3486549bdb19fb063eae5ac28c646929b1f195f6f1bbdf9f99a65214e923d9bb03cf19f17765c62befe" },
	{ 164, "11c717389193120fa6b61d9fdbfc74ec17309d744c1fd6e0d49393a5c32665c0b70a0a64916ae4a02d020762d2" },
	{ 165, "45a5fc34bb9062b93a34063f009778d4bcc3af74a69152087db014bd88eed080c06cadcf1efd41b31a9bd9a65f" },
	{ 166, "2ed43cae3a8299d0ee9caf4297b330ff643066d71af8465cc19a834bbb953343a7e165f646eee638ab0485b903" },
	{ 167, "b42058802b285612ffc4c9660931a282125eaf820c116659672ea4cf4e901f9aa9c496ed515d6fed6cd72930bb" },
	{ 168, "a5cda906160fc86a45c80cb2b51c07a0a1308626426bda2cb6b2e15aa5d650b6f59a97b503ef046c88f643e0cf" },
	{ 169, "3c0656ff6ad0c678d1ab7f1c49118191a475882c66b9a771a9570e1b19a7bafe0e2e2b55f0d17a4d054d175516" },
	{ 170, "75c7b335e15e94bda0851db69e35f108fc233a545da4b928ad14461e269694d8820956fafb4e44720ce8381507" },
	{ 171, "d3d4208c7bca3519228b580237ddf552c0f479fd621b5751d797cd1d973f62702e1ddc2d743ddea6a14810981a" },
	{ 172, "bd8072b89e773e49b1ea161dc308c1f47e0ba2900eeb8969feae8c69ede105660b348d2a6ab5251e192812a704" },
	{ 173, "802ba6104adc7ec67dc96bad11d1540c37c7d09a1d8e588e9d037a559aeb8bcccf00199e002dd1b51e38346d01" },
	{ 174, "170693138046e54de3f940047bc9c083905bd0d5f66ce4a21b447e8671662ebc13ee7cad4d0710fc453fd18c44" },
	{ 175, "fe66bc839bcc84b49b7b2f74bc79f6b6d66d081b431a9f875738ec99278da15f562636f26a3305c06ff0ac1dd7" },
	{ 176, "68387b231332367d7c8b6d57bd2053c79158bd8b364001f0ad10c2687266df9c2339179d7278db2c9b6a0a378c" },
	{ 177, "5c15441304b8c28780c052b3354b85f05985dc83ffb718e4b680bd0fb1c052aa5741370ae14ced0dfb94d80fe8" },
	{ 178, "a5b93d9b53f0134eb135abac39506ebde71368021255ad77964ba92095b370ca6bc1887266746f2f24a1ac68cd" },
	{ 179, "bc646bd2d4af6cb3eeefec80d906ef332716d228ebc473fd543c51fd4c626ebd9a9ca3c5379fc935748b302fe3" },
	{ 180, "baa95961ad3798f5ea49f68c7bd46a47f1e1b1f4c4410aaa23ffd29b539257dc6a519bfbdc12f48c2dd44f41b8" },
	{ 181, "63350bfe96ec394c5df26cfec536c1e13c36f11366dada5c7fbc87c7a77824d3aef9f68420edcc90dba8840e8f" },
	{ 182, "2aa46f85e84cd57b484eaafb542af4fc5be63a3cf0517924311c5014754cd28ed4aa3a7c6ace995369a121d919" },
	{ 183, "7125de9a7ab93363e12742330ab38a0afc493cacd21fac7dfd8d6650b58088e5441b4612957290bd81bd9b51a5" },
	{ 184, "99e607edbe8020e3d501f2d861864c65c0f3c7017f73a5ffe4a13f55bf5576848f3c74982cc59b599b10f5d16a" },
	{ 185, "327928bae37c3ec8e3013157520df8a40fc82e554b8ab673f0785aa30ad582b3d5c16214668a9c02b8a3305996" },
	{ 186, "970a798ffbc3d26f2d8d937ddfe93944b9b0a8ef5b5090cc2050c9e1cfa24ae8c9e383b5443b6b06498bfb4576" },
	{ 187, "f9888faf2641b1cf17a32a2f1be9ebed7461bf164bef4d66f925d97aaa29890011dc5d32b1662a46e56422ad4b" },
	{ 188, "c4b3edf0d1f37509c2571d4b5862f59b2ebe75c53553fec09fd4331db9e968beb517f1c48a2e1025a13d0849de" },
	{ 189, "128a7f7e9f4840e993df22c6a27fe71ce85ea48e30e09cba1d61ed2a4ace07cbc6d498e10909b581a548facb53" },
	{ 190, "640183b2b366539114dd437cc52c7e11ace537522dc32513d28a72306a0859bfbb57e88f0ed282c328b2811575" },
	{ 191, "737920941a5416463d091bb39cc88fb9a8777946b3d491d74f873149c121a680f61bac1644fbbbf4e4e084615d" },
	{ 192, "ee533361a9075cbd1ae3448b865d16d540869e232beb3e7b7fcf0982baea5d4a7634b9ea2bf3a768da75d7bf62" },
	{ 193, "94be547dd7acb0e06fcf9699e4e0417b08da4248b09d2344ec5a3f3740cb6df8a2e73cb7d1f586e2bf81fbe01a" },
	{ 194, "595ad5462e873d7289b871482889242cc322d57e840a826164fea4b240c18a951464d27444a5672cf0339cdecd" },
	{ 195, "88fddd9846559b1e0165e961bf90d9320b8846406353174667f03d667e90da202b5dce27a32cfd2c4288e80cdf" },
	{ 196, "d0b40335e694ecf36a1c628c215f8d1e59fdea2ec54d1997a7784c519440c58bf1cb2cef6f1787b84f75182726" },
	{ 197, "3e7e536627f6b2bff437b7c3147e19b40a779ef2f9d46d0be7aa086dc462301398e912b268cfe8ac174535ddeb" },
	{ 198, "61919626cf4fdcb05b3994b2b4f1cff36cde151621afbccbacf5cd30371328023548debe410f5fd510de7b3f8d" },
	{ 199, "5cda7630909f65f1639d17ee1bf9af32a154e07a09d5ec0cd6d980b2246420ac3a713f64b747325ff98ffbccff" },
	{ 200, "93a81809a5c145a51792f16fff011cda42b7955c15f8005eaac4b5a2c69edd7c6a30e4007a9d7a28eb4c916f91" },
	{ 201, "a3be48ca8ad70c6dd6b2763088cdd9ec7fce54535369fa711895e938ef40b634d765976e74997bd6ce3334d691" },
	{ 202, "3f060c4ebcf65552febaa5301832a124ac261aab14cb4987abe467712948466ef42a819442e857a7ed2d406a04" },
	{ 203, "ec45590afff57643dc270647f6932475fdedd8c94c13c7834c44d0f80b48f409fc311063140819518fee6274a3" },
	{ 204, "157c4157c5f1afaa789e304c096b751c3ac0174264696238dc614c0872ce6259261613938c14757173966fa5f4" },
	{ 205, "df36b86290c7ba0b99f6b9ac4489d570af4941296ffb352cf0a2caec11e9edadcb61391e381763a3f89055f1b1" },
	{ 206, "4ab902188cd8040ba6c4d325cbde2161e672e996f2431af34a94bc89be127ea99278e896082847c11029c94cd1" },
	{ 207, "ecdbd21be32fae547cfa7fb4d665f3038b5ef47383b349700f53fa37808f9f971c4e6f2c686dbead494695037e" },
	{ 208, "e4721d14e172cd2db536535a8452a247a60642a7645f56b30b2c920433f082a111e798d644e764eae231b9e36d" },
	{ 209, "beb673981c54566d15239a625e70beb02dbe9ad49782a9589c6dda7db3409ec9b0fd5485b2b9ca89f51ad2ba92" },
	{ 210, "e2b02be0b2a8b327c7a83d4c276e7fd9f8ebdee2e951113bf0622f2d1b52566d0b5fcd582b8f11f2891206e439" },
	{ 211, "33ae0f52a3cef337a7286ae47e4f2939c18435135f3f93794507db9fb4d779a4af607683a3f837d6f175570ea4" },
	{ 212, "7bbfc9c9e8a4b2781f1dfcc48c3a6d9e66ec91e39348a458736681d7cee6fef84102da9bab48aa3fbd295b129f" },
	{ 213, "951bc3e3f3a302eff4cfb7989a6508ffd2bd69223d9b962a4c68cf04d209e37b056f92c4ff96e41b60e411fdda" },
	{ 214, "031ffc754d54a488cb7bf4577e840b9257d81ea3605e2b1fed1c4d83ddc76ad7ec76d3cc2587636287bdd15423" },
	{ 215, "7a88f024350986aed407259173cc4f1672ac1b0e4d29584c3bf4c717ca48e9d835ba99cafcc0ba9428368df5cc" },
	{ 216, "ca06ec3e337014731f122f8db788f765083be95cb6abe2e9827d521f63a71932a304fc8f452611c02bdc8ae83f" },
	{ 217, "44571995fbbcc50754e9858f45f81f9fda89f862de946f55f6def93c0703486a59675a28df6616057aa2962bb2" },
	{ 218, "2eb20f3269a93720f615d25f908c9678dd1249646211eab665b4e15ab84661fd737f32d4c319d2bca171bc33c3" },
	{ 219, "9db897191dba0aeace4709846d28d905933e576d8d19f64cb26cff759608eaa308752db430c41e6c1c13b51878" },
	{ 220, "132911b40ea785d6becddf35b68c8edb4ce3bf81eb982bbe6e93bbd500c7804a62d66ed3e17ba1677e5f19693c" },
	{ 221, "c0c3cb5727eae2624429233d3864007cffed7e839777a25d15dc3d46ac06dbd89004059e01a346feb05c1c81c7" },
	{ 222, "f5d86b3e4a39ab7317273283244422d0a764f897b6b91ae8faebe925fd1ba2a15bd980e066dbebef574c894a92" },
	{ 223, "681295d554e5f657c02531e84309c96abdce3ff58fabc8f969234e5f5e4c6726c51be58218063cf086abcf5983" },
	{ 224, "c61b1a3724c8d67195ce45c0bd59886fd9b12c43f76379fb9c99d528bb8165ad41017f1dac1e26937e84c8adb9" },
	{ 225, "5aab74d6eea92c635d2c751530d2f0361a8684a515a475277bfaaf5fbef1a2171a33c34a90302807c701d56790" },
	{ 226, "7b998eed5008fa6295b94dac34ce9ec60faa1c4608d013cfa014aa3a96ea6687a106dde3657825e63440dac506" },
	{ 227, "956ad989000458007af0b41eb2fb5a716db1b095594821fc305ee35ea27b41b2476880db3b4c86bc60c4394d05" },
	{ 228, "21de030f4aa7fcb8650847deea5ab6a2934f2e0c1c5d592320a3933bd6054d6ab8498aaa4afd84592577f5982c" },
	{ 229, "09ebbc42714876507032d57cd75862b36e37c258a60381c2eacd54df57b63866bb6638ba70b819c5154a8449aa" },
	{ 230, "e00f7b42761478774b545ad968ba8065df957f3ebc9f08bd7c87883635ca3150d68a0762e366346610627d89af" },
	{ 231, "d943ccb5bec78bb5c5456ce7e0c2bbc2710451f67f9398f81b1365dda8ceeada480e270c6bd39cd40fead78ec0" },
	{ 232, "97e618976ba5b39d98d79dbb6e94f853cf2f231d32e6240929e4674d91789d7a3dd7199051d49acb92ff1e3064" },
	{ 233, "3a089d31db7927069a7956793308cf8f59e3570fbf8f561888699aaf5ba4681a427d68748705754d6a7344ca24" },
	{ 234, "a4e7bfa5b0a0b537c1832206561f764c88d722429340101906b380aff934fbb98f5bdfca0e77024805338e4e61" },
	{ 235, "2396cc5b30ab05634f7fc6f6067eadd043e6263f1e68c6ba556fa99dd075a7f1b42b5cf195a469ef2443896fa8" },
	{ 236, "8e419af52a43da88133fd3bccec458a44c82cc24dffc7475f62fcd69d9118c85505c0080811504b6b28d94c7d4" },
	{ 237, "fa41df9a9badbb1eaad232e4bf7c431b17418b429cf8345e45b1b9aed9e8669ea2e19893f22dcf4dcdfd370f39" },
	{ 238, "03ddaf89dd237786f561dc04711aeb5976a61f5a32f789f92867b39024ba0f5f09bca97ce2456b4d4c8ea1e692" },
	{ 239, "185eab1d7ae0d33b774abf1d730abe7cdbc7e238ed7c986de2f41e650f0915f33e816fa9b0e08143cc76c76e6c" },
	{ 240, "559b45bb28a558ebbaf55adf12130d45e18adf68249514e564437bf61d4c49fe9f252c006914429d96ee719173" },
	{ 241, "6457329e5fb4296beb868c175f84f16ae889a3edeb37edc19b38bad597064287aca727b420b5ed8b1a0b677786" },
	{ 242, "38f7ba2c57febe4b4d832c29299060d93f8fed98b6cbc95d0d6e95dd385d1fee063783ea774a770111ff9aa31f" },
	{ 243, "c45408567b0ad94fed4067cd1d250db315561c9322db62e2d4604bd36aeaf1fcea7db541ab88197266e5d9d7f2" },
	{ 244, "15211da2711b3ffd8f4fd59500a7fa1e5e4bc96e1ecb874671e455ae30cd8d993ae61f7f2c741337dae98d3514" },
	{ 245, "ce742653b0a38f7c93e901f97379f074f875eec71299361ebf5cada487b9992d1e7cbb975ba8d5d44aab2d5854" },
	{ 246, "83165d93c0178f0b4f73a46952457183421a3284b17d9d5a056c897b7021ce1cfe5295a44a6daec6da9a02e1e5" },
	{ 247, "816bcd488508d071fecb91b9a0c792b93461a1b6eea76728fc29cc1791f47b9043adde84e0af3e99acf72f7c95" },
	{ 248, "de13015f54f2d415dab8f63a47d8bd5799b169f1982b67b79890fccc187be7a1ebe08670e4ba6e61e98e4a353a" },
	{ 249, "6f533ed89dbc3d56641e7c6baaea85455a24d7c81bba4c2c415e146d78c15b05acc144c64a392fdabd6088d731" },
	{ 250, "43220fbb436a9269a2b8dba1734e8a9f77f443f32fd89dc78b6205a10817c38e8d26859b2c3aa62d4012dfd8c9" },
	{ 251, "1a9acc8588317d8be40f50afdd9ff12464dced0401e6f8043e387a1b4d82c75e63cb0752a06d3d6aab8eb41cc6" },
	{ 252, "1b6652abf366cb5106ee5e6676510d44de609794badb2672f9d5537fe32134955d8159da22d98c58780980de3e" },
	{ 253, "f4048c4d1b9210430abe699016e1d696b9f67102a68d216d84bb99eb03f6d57d7968075942d4f6e56d462d25a3" },
	{ 254, "f3e1101622e9c97c64fc58e58d71bd92acedbea1a5dbd90d09fca60470aa2c708ece6e8e845444860b37a9b420" },
	{ 255, "f6ad1823eb0b932d04b6e23010eea64f1fe5edd0583dae5ba27ca6363f4ea104bd217331460ef4208040423641" },
	{ 256, "53624f4f9f173453b14e633b45390ff54cacaa4428d44baee1bff8133fab1ab3afe60f88e4634b525c54e92eda" },
};
static const struct export_vec v_aes256_exports[] = {
	{ "", 32, "ded6cffafaea6b812cbf3e241e88332adbc077aca81512914213810ee291770a" },
	{ "00", 32, "04d3cb6cc116b28ffd22ad5bc276c60d31fec71ceb87ae24db811c64b7507339" },
	{ "54657374436f6e74657874", 32, "7c5ded445732c14fe09727d29b4251c0fd38455fe8440571e687f0886aac94d2" },
};
static const struct vector v_aes256 = {
	.aead_id = 2,
	.info = "4f6465206f6e2061204772656369616e2055726e",
	.ikm_r = "dac33b0e9db1b59dbbea58d59a14e7b5896e9bdf98fad6891e99d1686492b9ee",
	.ikm_e = "2cd7c601cefb3d42a62b04b7a9041494c06c7843818e0ce28a8f704ae7ab20f9",
	.sk_r = "497b4502664cfea5d5af0b39934dac72242a74f8480451e1aee7d6a53320333d",
	.sk_e = "179d4b53b6365c45b600c4163b61d95cbc2f4d9e36f1695558dce265ab8bab11",
	.pk_r = "430f4b9859665145a6b1ba274024487bd66f03a2dd577d7753c68d7d7d00c00c",
	.pk_e = "6c93e09869df3402d7bf231bf540fadd35cd56be14f97178f0954db94b7fc256",
	.enc = "6c93e09869df3402d7bf231bf540fadd35cd56be14f97178f0954db94b7fc256",
	.key = "f50b0609186798729ed0564b36ef2ef8044f1f9d05636874d1f46c819c7a669f",
	.base_nonce = "151d9929e2449747889bc923",
	.exporter_secret = "86017151bbff6a1940e8abae2ac9e0e7032e33df1eaaecc02ca6259b130d62df",
	.pt = "4265617574792069732074727574682c20747275746820626561757479",
	.cts = v_aes256_cts,
	.n_cts = sizeof(v_aes256_cts) / sizeof(v_aes256_cts[0]),
	.exports = v_aes256_exports,
	.n_exports = sizeof(v_aes256_exports) / sizeof(v_aes256_exports[0]),
};

static const struct seq_ct v_a1_cts[] = {
	{ 0, "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a" },
	{ 1, "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84" },
	{ 2, "498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc180" },
	{ 4, "583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a09fc0012bc69fccaa251c0246d" },
	{ 255, "7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505bf106deefec4a49ac38d71c9e0a" },
	{ 256, "957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3fbeda97d2e0e1aba483a2df9f2" },
};
static const struct export_vec v_a1_exports[] = {
	{ "", 32, "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee" },
	{ "00", 32, "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5" },
	{ "54657374436f6e74657874", 32, "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931" },
};
static const struct vector v_a1 = {
	.aead_id = 1,
	.info = "4f6465206f6e2061204772656369616e2055726e",
	.ikm_r = "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
	.ikm_e = "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
	.sk_r = "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
	.sk_e = "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
	.pk_r = "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
	.pk_e = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
	.enc = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
	.key = "4531685d41d65f03dc48f6b8302c05b0",
	.base_nonce = "56d890e5accaaf011cff4b7d",
	.exporter_secret = "45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8",
	.pt = "4265617574792069732074727574682c20747275746820626561757479",
	.cts = v_a1_cts,
	.n_cts = sizeof(v_a1_cts) / sizeof(v_a1_cts[0]),
	.exports = v_a1_exports,
	.n_exports = sizeof(v_a1_exports) / sizeof(v_a1_exports[0]),
};




static int count_aad(unsigned seq, uint8_t aad[static 32])
{
	return snprintf((char *)aad, 32, "Count-%u", seq);
}

static void run_vector(const struct vector *v)
{
	uint8_t sk[32], pk[32], ikm[32], sk_r[32], sk_e[32], pk_r[32], enc[32];
	uint8_t info[64], pt[64], ct[64 + DCR_HPKE_NT], back[64], aad[32], ctx_buf[64], out[64];
	struct dcr_hpke_ctx s, r;
	struct dcr_err err = { 0 };
	size_t info_len, pt_len, next = 0, last = v->cts[v->n_cts - 1].seq;

	/* DeriveKeyPair gives the vector's key pairs from its ikm. */
	unhex_exact(v->ikm_r, ikm, sizeof(ikm));
	assert_int_equal(dcr_hpke_derive_keypair(ikm, sizeof(ikm), sk, pk, &err), 0);
	assert_hex(sk, 32, v->sk_r);
	assert_hex(pk, 32, v->pk_r);
	unhex_exact(v->ikm_e, ikm, sizeof(ikm));
	assert_int_equal(dcr_hpke_derive_keypair(ikm, sizeof(ikm), sk, pk, &err), 0);
	assert_hex(sk, 32, v->sk_e);
	assert_hex(pk, 32, v->pk_e);
	unhex_exact(v->sk_r, sk_r, sizeof(sk_r));
	assert_int_equal(dcr_hpke_public(sk_r, pk, &err), 0);
	assert_hex(pk, 32, v->pk_r);

	unhex_exact(v->sk_e, sk_e, sizeof(sk_e));
	unhex_exact(v->pk_r, pk_r, sizeof(pk_r));
	info_len = unhex_any(v->info, info, sizeof(info));
	pt_len = unhex_any(v->pt, pt, sizeof(pt));

	assert_int_equal(dcr_hpke_setup_base_s_fixed(&s, enc, pk_r, sk_e, v->aead_id, info, info_len,
		&err), 0);
	assert_hex(enc, 32, v->enc);
	assert_int_equal(dcr_hpke_setup_base_r(&r, enc, sk_r, v->aead_id, info, info_len, &err), 0);
	assert_int_equal(s.nk, strlen(v->key) / 2);
	assert_hex(s.key, s.nk, v->key);
	assert_hex(r.key, r.nk, v->key);
	assert_hex(s.base_nonce, DCR_HPKE_NN, v->base_nonce);
	assert_hex(r.base_nonce, DCR_HPKE_NN, v->base_nonce);
	assert_hex(s.exporter_secret, DCR_HPKE_NH, v->exporter_secret);
	assert_hex(r.exporter_secret, DCR_HPKE_NH, v->exporter_secret);

	/* Seal and open every sequence number up to the last one the vector lists. */
	for (unsigned seq = 0; seq <= last; seq++) {
		int aad_len = count_aad(seq, aad);

		assert_int_equal(s.seq, seq);
		assert_int_equal(dcr_hpke_seal(&s, aad, (size_t)aad_len, pt, pt_len, ct, &err), 0);
		if (next < v->n_cts && v->cts[next].seq == seq)
			assert_hex(ct, pt_len + DCR_HPKE_NT, v->cts[next++].ct);
		assert_int_equal(dcr_hpke_open(&r, aad, (size_t)aad_len, ct, pt_len + DCR_HPKE_NT,
			back, &err), 0);
		assert_memory_equal(back, pt, pt_len);
	}
	assert_int_equal(next, v->n_cts);

	for (size_t i = 0; i < v->n_exports; i++) {
		size_t ctx_len = unhex_any(v->exports[i].context, ctx_buf, sizeof(ctx_buf));

		assert_true(v->exports[i].len <= sizeof(out));
		assert_int_equal(dcr_hpke_export(&s, ctx_buf, ctx_len, out, v->exports[i].len, &err), 0);
		assert_hex(out, v->exports[i].len, v->exports[i].value);
		assert_int_equal(dcr_hpke_export(&r, ctx_buf, ctx_len, out, v->exports[i].len, &err), 0);
		assert_hex(out, v->exports[i].len, v->exports[i].value);
	}
	dcr_hpke_ctx_release(&s);
	dcr_hpke_ctx_release(&r);
}

static void test_vector_aes256(void **state)
{
	run_vector(&v_aes256);
}

static void test_vector_rfc9180_a1(void **state)
{
	run_vector(&v_a1);
}

/* A sender and receiver context for v_aes256, and its first ciphertext. */
static void setup_pair(struct dcr_hpke_ctx *s, struct dcr_hpke_ctx *r, uint8_t sk_r[static 32],
	uint8_t enc[static 32])
{
	uint8_t sk_e[32], pk_r[32], info[64];
	size_t info_len = unhex_any(v_aes256.info, info, sizeof(info));

	unhex_exact(v_aes256.sk_r, sk_r, 32);
	unhex_exact(v_aes256.sk_e, sk_e, sizeof(sk_e));
	unhex_exact(v_aes256.pk_r, pk_r, sizeof(pk_r));
	assert_int_equal(dcr_hpke_setup_base_s_fixed(s, enc, pk_r, sk_e, DCR_HPKE_AEAD_AES256GCM,
		info, info_len, NULL), 0);
	assert_int_equal(dcr_hpke_setup_base_r(r, enc, sk_r, DCR_HPKE_AEAD_AES256GCM, info, info_len,
		NULL), 0);
}

static int all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

static void test_open_failures(void **state)
{
	static const uint8_t aad[] = "Count-0", wrong_aad[] = "Count-1";
	static const uint8_t msg[] = "Beauty is truth, truth beauty";
	uint8_t sk_r[32], enc[32], ikm[32], other_sk[32], other_pk[32], info[64];
	uint8_t ct[sizeof(msg) + DCR_HPKE_NT], pt[sizeof(msg)];
	struct dcr_hpke_ctx s, r, wrong;
	struct dcr_err err = { 0 };
	size_t info_len = unhex_any(v_aes256.info, info, sizeof(info));

	setup_pair(&s, &r, sk_r, enc);
	assert_int_equal(dcr_hpke_seal(&s, aad, 7, msg, sizeof(msg), ct, &err), 0);

	/* The wrong private key. */
	memset(ikm, 7, sizeof(ikm));
	assert_int_equal(dcr_hpke_derive_keypair(ikm, sizeof(ikm), other_sk, other_pk, &err), 0);
	assert_int_equal(dcr_hpke_setup_base_r(&wrong, enc, other_sk, DCR_HPKE_AEAD_AES256GCM,
		info, info_len, &err), 0);
	memset(pt, 0xaa, sizeof(pt));
	assert_int_equal(dcr_hpke_open(&wrong, aad, 7, ct, sizeof(ct), pt, &err), DCR_EINTEGRITY);
	assert_int_equal(err.code, DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "authentication"));
	assert_true(all_zero(pt, sizeof(pt)));
	dcr_hpke_ctx_release(&wrong);

	/* The wrong info, AEAD, or associated data. */
	assert_int_equal(dcr_hpke_setup_base_r(&wrong, enc, sk_r, DCR_HPKE_AEAD_AES256GCM,
		info, info_len - 1, &err), 0);
	assert_int_equal(dcr_hpke_open(&wrong, aad, 7, ct, sizeof(ct), pt, &err), DCR_EINTEGRITY);
	assert_int_equal(dcr_hpke_setup_base_r(&wrong, enc, sk_r, DCR_HPKE_AEAD_AES128GCM,
		info, info_len, &err), 0);
	assert_int_equal(dcr_hpke_open(&wrong, aad, 7, ct, sizeof(ct), pt, &err), DCR_EINTEGRITY);
	dcr_hpke_ctx_release(&wrong);
	assert_int_equal(dcr_hpke_open(&r, wrong_aad, 7, ct, sizeof(ct), pt, &err), DCR_EINTEGRITY);
	assert_int_equal(dcr_hpke_open(&r, NULL, 0, ct, sizeof(ct), pt, &err), DCR_EINTEGRITY);

	/* Every flipped bit, in the body and in the tag. */
	for (size_t bit = 0; bit < 8 * sizeof(ct); bit++) {
		ct[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		memset(pt, 0xaa, sizeof(pt));
		assert_int_equal(dcr_hpke_open(&r, aad, 7, ct, sizeof(ct), pt, &err), DCR_EINTEGRITY);
		assert_true(all_zero(pt, sizeof(pt)));
		ct[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}

	/* Truncated: every shorter length. */
	for (size_t len = 0; len < sizeof(ct); len++)
		assert_int_equal(dcr_hpke_open(&r, aad, 7, ct, len, pt, &err), DCR_EINTEGRITY);

	/* None of that moved the sequence number: the genuine message still opens, once. */
	assert_int_equal(r.seq, 0);
	assert_int_equal(dcr_hpke_open(&r, aad, 7, ct, sizeof(ct), pt, &err), 0);
	assert_memory_equal(pt, msg, sizeof(msg));
	assert_int_equal(r.seq, 1);
	assert_int_equal(dcr_hpke_open(&r, aad, 7, ct, sizeof(ct), pt, &err), DCR_EINTEGRITY);

	dcr_hpke_ctx_release(&s);
	dcr_hpke_ctx_release(&r);
}

static void test_sequence_limit(void **state)
{
	uint8_t sk_r[32], enc[32], ct[4 + DCR_HPKE_NT], pt[4];
	struct dcr_hpke_ctx s, r;
	struct dcr_err err = { 0 };

	setup_pair(&s, &r, sk_r, enc);
	/* Jump to the end of the sequence space; no API does this, so poke the field. */
	s.seq = r.seq = UINT64_MAX - 1;
	assert_int_equal(dcr_hpke_seal(&s, NULL, 0, (const uint8_t *)"last", 4, ct, &err), 0);
	assert_int_equal(dcr_hpke_open(&r, NULL, 0, ct, sizeof(ct), pt, &err), 0);
	assert_memory_equal(pt, "last", 4);
	assert_int_equal(dcr_hpke_seal(&s, NULL, 0, (const uint8_t *)"more", 4, ct, &err),
		DCR_EINVALID);
	assert_non_null(strstr(err.msg, "limit"));
	assert_int_equal(s.seq, UINT64_MAX);
	assert_int_equal(dcr_hpke_open(&r, NULL, 0, ct, sizeof(ct), pt, &err), DCR_EINVALID);
	dcr_hpke_ctx_release(&s);
	dcr_hpke_ctx_release(&r);
}

static void test_misuse(void **state)
{
	uint8_t sk_r[32], enc[32], ct[DCR_HPKE_NT], out[32], ikm[DCR_HPKE_IKM_MAX + 1] = { 0 };
	uint8_t sk[32], pk[32], big[DCR_HPKE_INFO_MAX + 1] = { 0 };
	struct dcr_hpke_ctx s, r;
	struct dcr_err err = { 0 };

	setup_pair(&s, &r, sk_r, enc);
	assert_int_equal(dcr_hpke_open(&s, NULL, 0, ct, sizeof(ct), out, &err), DCR_EINVALID);
	assert_int_equal(dcr_hpke_seal(&r, NULL, 0, NULL, 0, ct, &err), DCR_EINVALID);
	assert_int_equal(dcr_hpke_export(&s, NULL, 0, out, DCR_HPKE_EXPORT_MAX + 1, &err),
		DCR_EINVALID);
	assert_int_equal(dcr_hpke_export(&s, big, DCR_HPKE_EXPORT_CONTEXT_MAX + 1, out, 32, &err),
		DCR_EINVALID);

	/* Release wipes the keys and leaves a context that does nothing. */
	dcr_hpke_ctx_release(&s);
	assert_true(all_zero((const uint8_t *)&s, sizeof(s)));
	assert_int_equal(dcr_hpke_seal(&s, NULL, 0, NULL, 0, ct, &err), DCR_EINVALID);
	assert_int_equal(dcr_hpke_export(&s, NULL, 0, out, 32, &err), DCR_EINVALID);
	dcr_hpke_ctx_release(NULL);

	/* Unsupported AEADs (ChaCha20-Poly1305, export-only) and oversized info. */
	unhex_exact(v_aes256.pk_r, pk, sizeof(pk));
	assert_int_equal(dcr_hpke_setup_base_s(&s, enc, pk, 0x0003, NULL, 0, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "0x0003"));
	assert_int_equal(dcr_hpke_setup_base_r(&s, enc, sk_r, 0xffff, NULL, 0, &err), DCR_EINVALID);
	assert_int_equal(dcr_hpke_setup_base_s(&s, enc, pk, DCR_HPKE_AEAD_AES256GCM, big,
		sizeof(big), &err), DCR_EINVALID);
	assert_int_equal(s.role, DCR_HPKE_NONE);
	assert_int_equal(dcr_hpke_setup_base_s(&s, enc, pk, DCR_HPKE_AEAD_AES256GCM, big,
		DCR_HPKE_INFO_MAX, &err), 0);
	dcr_hpke_ctx_release(&s);
	assert_int_equal(dcr_hpke_aead_nk(0x0003), 0);

	/* DeriveKeyPair wants at least Nsk bytes and refuses unbounded input. */
	assert_int_equal(dcr_hpke_derive_keypair(ikm, 31, sk, pk, &err), DCR_EINVALID);
	assert_int_equal(dcr_hpke_derive_keypair(ikm, sizeof(ikm), sk, pk, &err), DCR_EINVALID);
	assert_int_equal(dcr_hpke_derive_keypair(ikm, DCR_HPKE_IKM_MAX, sk, pk, &err), 0);
	dcr_hpke_ctx_release(&r);
}

/* A small-order point as enc (here u = 0 and u = 1) must not give a key. */
static void test_small_order(void **state)
{
	uint8_t sk_r[32], enc[32] = { 0 }, pk[32];
	struct dcr_hpke_ctx r, s;
	struct dcr_err err = { 0 };

	unhex_exact(v_aes256.sk_r, sk_r, sizeof(sk_r));
	assert_int_equal(dcr_hpke_setup_base_r(&r, enc, sk_r, DCR_HPKE_AEAD_AES256GCM, NULL, 0, &err),
		DCR_EINVALID);
	assert_int_equal(r.role, DCR_HPKE_NONE);
	enc[0] = 1;
	assert_int_equal(dcr_hpke_setup_base_r(&r, enc, sk_r, DCR_HPKE_AEAD_AES256GCM, NULL, 0, &err),
		DCR_EINVALID);
	memset(pk, 0, sizeof(pk));
	assert_int_equal(dcr_hpke_setup_base_s(&s, enc, pk, DCR_HPKE_AEAD_AES256GCM, NULL, 0, &err),
		DCR_EINVALID);
}

static void test_round_trip(void **state)
{
	static const uint8_t info[] = "dcr test";
	uint8_t sk[32], pk[32], enc[32], e1[40], e2[40];
	uint8_t buf[1000 + DCR_HPKE_NT], msg[1000];
	struct dcr_hpke_ctx s, r;
	struct dcr_err err = { 0 };

	assert_int_equal(dcr_hpke_keygen(sk, pk, &err), 0);
	assert_int_equal(dcr_hpke_setup_base_s(&s, enc, pk, DCR_HPKE_AEAD_AES256GCM, info,
		sizeof(info), &err), 0);
	assert_int_equal(dcr_hpke_setup_base_r(&r, enc, sk, DCR_HPKE_AEAD_AES256GCM, info,
		sizeof(info), &err), 0);
	assert_int_equal(dcr_random(msg, sizeof(msg), &err), 0);
	/* Lengths around the AES block size, including empty, sealed and opened in place. */
	for (size_t len = 0; len <= sizeof(msg); len += len < 40 ? 1 : 480) {
		memcpy(buf, msg, len);
		assert_int_equal(dcr_hpke_seal(&s, NULL, 0, buf, len, buf, &err), 0);
		assert_int_equal(dcr_hpke_open(&r, NULL, 0, buf, len + DCR_HPKE_NT, buf, &err), 0);
		assert_memory_equal(buf, msg, len);
	}
	assert_int_equal(dcr_hpke_export(&s, info, sizeof(info), e1, sizeof(e1), &err), 0);
	assert_int_equal(dcr_hpke_export(&r, info, sizeof(info), e2, sizeof(e2), &err), 0);
	assert_memory_equal(e1, e2, sizeof(e1));
	assert_int_equal(dcr_hpke_export(&r, NULL, 0, e2, sizeof(e2), &err), 0);
	assert_memory_not_equal(e1, e2, sizeof(e1));
	dcr_hpke_ctx_release(&s);
	dcr_hpke_ctx_release(&r);
}

/*
 * The receiver key dcr_hpke_setup_base_r keeps is only ever the key it is
 * given: a message to one of two keys opens with its own, every time and
 * in any order, and never with the other; forgetting changes nothing.
 */
static void test_receiver_kept(void **state)
{
	static const uint8_t info[] = "dcr test";
	uint8_t sk[2][32], pk[2][32], enc[2][32], ct[2][5 + DCR_HPKE_NT], pt[5];
	static const int order[] = { 0, 0, 1, 0, 1, 1, -1, 1, 0 };
	struct dcr_hpke_ctx s, r;
	struct dcr_err err = { 0 };

	/* The second key is the first with bit 0 of its last byte flipped (not a clamped bit): another key. */
	assert_int_equal(dcr_hpke_keygen(sk[0], pk[0], &err), 0);
	memcpy(sk[1], sk[0], 32);
	sk[1][31] ^= 0x01;
	assert_int_equal(dcr_hpke_public(sk[1], pk[1], &err), 0);
	assert_memory_not_equal(pk[0], pk[1], 32);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(dcr_hpke_setup_base_s(&s, enc[k], pk[k], DCR_HPKE_AEAD_AES256GCM, info, sizeof(info),
					 &err), 0);
		assert_int_equal(dcr_hpke_seal(&s, NULL, 0, (const uint8_t *)"hello", 5, ct[k], &err), 0);
		dcr_hpke_ctx_release(&s);
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++) {
		int k = order[i];

		if (k < 0) {
			dcr_hpke_forget();
			continue;
		}
		/* Its own key opens it; the other key, used just after, does not. */
		assert_int_equal(dcr_hpke_setup_base_r(&r, enc[k], sk[k], DCR_HPKE_AEAD_AES256GCM, info, sizeof(info),
					 &err), 0);
		assert_int_equal(dcr_hpke_open(&r, NULL, 0, ct[k], sizeof(ct[k]), pt, &err), 0);
		assert_memory_equal(pt, "hello", 5);
		dcr_hpke_ctx_release(&r);
		assert_int_equal(dcr_hpke_setup_base_r(&r, enc[k], sk[1 - k], DCR_HPKE_AEAD_AES256GCM, info,
					 sizeof(info), &err), 0);
		assert_int_equal(dcr_hpke_open(&r, NULL, 0, ct[k], sizeof(ct[k]), pt, &err), DCR_EINTEGRITY);
		dcr_hpke_ctx_release(&r);
	}
	dcr_hpke_forget();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_aes256),
		cmocka_unit_test(test_vector_rfc9180_a1),
		cmocka_unit_test(test_open_failures),
		cmocka_unit_test(test_sequence_limit),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_small_order),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_receiver_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
